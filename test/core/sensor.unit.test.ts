import { describe, expect, it } from 'vitest'
import { ErrorCodes, F2Error } from '../../src/core/errors.ts'
import { decodeSensorFrame, encodeSensorFrame, type SensorDefinition } from '../../src/core/sensor.ts'
import type { DataPointDef } from '../../src/core/datapoint.ts'
import { dp, KITCHEN, LIVING_ROOM } from './helpers/registry.ts'

const summary = (f: ReturnType<typeof decodeSensorFrame>) => ({
  values: f.values.map(v => [v.def.label, v.value, v.unit]),
  failures: f.failures.map(x => [x.def?.label ?? null, x.error.code])
})

describe('decodeSensorFrame', () => {
  it('decodes a Temperature/Humidity/CO2 frame built from the registry', () => {
    const bytes = encodeSensorFrame(LIVING_ROOM.dataPoints, { Temperature: -5.25, Humidity: 45.5, CO2: 612 })
    expect(bytes).toEqual(Uint8Array.from([0xfd, 0xf3, 0x11, 0xc6, 0x02, 0x64]))
    expect(summary(decodeSensorFrame(bytes, LIVING_ROOM))).toEqual({
      values: [['Temperature', -5.25, '°C'], ['Humidity', 45.5, '%'], ['CO2', 612, 'ppm']], failures: []
    })
  })

  it('decodes a Voltage/Current frame', () => {
    const bytes = encodeSensorFrame(KITCHEN.dataPoints, { Voltage: 229.9, Current: -0.015 })
    expect(summary(decodeSensorFrame(bytes, KITCHEN))).toEqual({ values: [['Voltage', 229.9, 'V'], ['Current', -0.015, 'A']], failures: [] })
  })

  it('a data point that fails, fails alone', () => {
    const bytes = Uint8Array.from([0x0b, 0x2c, 0x11, 0xc6]) // CO2 missing
    expect(summary(decodeSensorFrame(bytes, LIVING_ROOM))).toEqual({
      values: [['Temperature', 28.6, '°C'], ['Humidity', 45.5, '%']], failures: [['CO2', ErrorCodes.DATAPOINT_OUT_OF_RANGE]]
    })
  })

  it('a duplicate label fails (it would collide in the time-series key)', () => {
    const sensor: SensorDefinition = { ...LIVING_ROOM, dataPoints: [...LIVING_ROOM.dataPoints, dp(9, 'CO2', 'Uint16', 0, 2, 0, 'ppm')] }
    const f = decodeSensorFrame(Uint8Array.from([0, 1, 0, 2, 0, 3]), sensor)
    expect(summary(f).failures).toEqual([['CO2', ErrorCodes.DATAPOINT_DEFINITION_INVALID]])
  })

  it('modbus-rtu: one CRC check for the frame; a bad CRC is one failure with def null', () => {
    const points: DataPointDef[] = LIVING_ROOM.dataPoints.map(d => ({ ...d, dataEncoding: 'modbus-rtu' }))
    const sensor: SensorDefinition = { ...LIVING_ROOM, dataPoints: points }
    const frame = encodeSensorFrame(points, { Temperature: 21.5, Humidity: 40, CO2: 800 })
    expect(frame.length).toBe(3 + 6 + 2)
    expect(summary(decodeSensorFrame(frame, sensor)).values).toEqual([['Temperature', 21.5, '°C'], ['Humidity', 40, '%'], ['CO2', 800, 'ppm']])
    frame[5] = (frame[5] as number) ^ 0xff
    expect(summary(decodeSensorFrame(frame, sensor))).toEqual({ values: [], failures: [[null, ErrorCodes.MODBUS_CRC_MISMATCH]] })
  })

  it('an unknown encoding fails that data point only', () => {
    const sensor: SensorDefinition = { ...LIVING_ROOM, dataPoints: [{ ...(LIVING_ROOM.dataPoints[0] as DataPointDef), dataEncoding: 'bcd' }, ...LIVING_ROOM.dataPoints.slice(1)] }
    const f = summary(decodeSensorFrame(Uint8Array.from([0, 1, 0, 2, 0, 3]), sensor))
    expect(f.failures).toEqual([['Temperature', ErrorCodes.DATAPOINT_ENCODING_UNSUPPORTED]])
    expect(f.values.length).toBe(2)
  })

  it('encodeSensorFrame refuses missing values and mixed encodings', () => {
    expect(() => encodeSensorFrame(LIVING_ROOM.dataPoints, { Temperature: 1 })).toThrow(F2Error)
    const mixed = [LIVING_ROOM.dataPoints[0] as DataPointDef, { ...(LIVING_ROOM.dataPoints[1] as DataPointDef), dataEncoding: 'modbus-rtu' }]
    expect(() => encodeSensorFrame(mixed, { Temperature: 1, Humidity: 1 })).toThrow(F2Error)
  })
})
