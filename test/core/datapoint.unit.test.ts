import { describe, expect, it } from 'vitest'
import { ErrorCodes, F2Error } from '../../src/core/errors.ts'
import { decodeDataPoint, encodeDataPoint, parseDataEncoding, parseDataFormat, shiftDecimal, type DataPointDef } from '../../src/core/datapoint.ts'
import { buildModbusRtuReply } from '../../src/core/modbus.ts'
import { parseHex } from '../../src/core/hex.ts'
import { dp, ENV_POINTS, POWER_POINTS } from './helpers/registry.ts'
import { prng, randInt } from './helpers/prng.ts'

function hex (s: string): Uint8Array {
  const r = parseHex(s)
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}

describe('sample registry data points, exact values', () => {
  // Temperature -5.25 °C (-525 = FD F3), Humidity 60.00 % (6000 = 17 70), CO2 410 ppm (01 9A)
  const env = hex('FD F3 17 70 01 9A')
  it.each([
    [ENV_POINTS[0], { value: -5.25, unit: '°C', prefix: '' }],
    [ENV_POINTS[1], { value: 60, unit: '%', prefix: '' }],
    [ENV_POINTS[2], { value: 410, unit: 'ppm', prefix: '' }]
  ])('%# environmental', (def, expected) => {
    expect(decodeDataPoint(env, def as DataPointDef)).toEqual({ ok: true, value: expected })
  })

  // Voltage 230.4 V (2304 = 09 00), Current -1.234 A (-1234 = FB 2E)
  const power = hex('09 00 FB 2E')
  it.each([
    [POWER_POINTS[0], { value: 230.4, unit: 'V', prefix: '' }],
    [POWER_POINTS[1], { value: -1.234, unit: 'A', prefix: '' }]
  ])('%# power', (def, expected) => {
    expect(decodeDataPoint(power, def as DataPointDef)).toEqual({ ok: true, value: expected })
  })

  it('decimals: -525 with 2 decimals is exactly -5.25, 2793 is 27.93 (no float noise)', () => {
    expect(shiftDecimal(-525, -2)).toBe(-5.25)
    expect(shiftDecimal(2793, -2)).toBe(27.93)
    expect(shiftDecimal(1, -3)).toBe(0.001)
    expect(2793 / 100).toBe(27.93)
    expect(shiftDecimal(-1234, -3)).toBe(-1.234)
    expect(shiftDecimal(1e21, -2)).toBe(1e19)
    expect(shiftDecimal(5.25, 2)).toBe(525)
  })

  it('the seed simulator payload 0x12a decodes as Temperature 2.98 °C (0x012A = 298)', () => {
    expect(decodeDataPoint(hex('0x12a'), ENV_POINTS[0] as DataPointDef)).toEqual({ ok: true, value: { value: 2.98, unit: '°C', prefix: '' } })
    const r = decodeDataPoint(hex('0x12a'), ENV_POINTS[1] as DataPointDef)
    expect(!r.ok && r.error.code).toBe(ErrorCodes.DATAPOINT_OUT_OF_RANGE)
  })

  it('prefix and unit are trimmed', () => {
    const def = dp(9, 'Level', 'Uint8', 0, 1, null, null, { prepend: ' ~ ', append: '  mm ' })
    expect(decodeDataPoint(Uint8Array.from([42]), def)).toEqual({ ok: true, value: { value: 42, unit: 'mm', prefix: '~' } })
  })
})

describe('formats and word orders', () => {
  it.each([
    ['Int16', 'Int16', 2], ['Uint16', 'Uint16', 2], ['int16', 'Int16', 2], ['UINT16', 'Uint16', 2], ['UInt16', 'Uint16', 2],
    ['Int8', 'Int8', 1], ['Uint8', 'Uint8', 1], ['Int32', 'Int32', 4], ['Uint32', 'Uint32', 4], ['Float32', 'Float32', 4], ['Float', 'Float32', 4],
    ['Int16_AB', 'Int16', 2], ['Int16_BA', 'Int16_BA', 2], ['Uint16LE', 'Uint16_BA', 2], ['Uint16-be', 'Uint16', 2],
    ['Float32_ABCD', 'Float32', 4], ['Float32_CDAB', 'Float32_CDAB', 4], ['float32_badc', 'Float32_BADC', 4], ['Float32_DCBA', 'Float32_DCBA', 4],
    ['Int32_LE', 'Int32_DCBA', 4], ['Uint32_CDAB', 'Uint32_CDAB', 4], [' Int16 ', 'Int16', 2]
  ])('%j → %s', (input, canonical, width) => {
    const r = parseDataFormat(input)
    expect(r.ok && r.value.canonical).toBe(canonical)
    expect(r.ok && r.value.width).toBe(width)
  })

  it.each(['Int64', 'Float16', 'Float8', 'Int', 'Int16_CDAB', 'Int32_BA', 'Int8_BA', 'Int16_XY', 'String', '', 'Int 16'])('rejects %j', (input) => {
    const r = parseDataFormat(input)
    expect(!r.ok && r.error.code).toBe(ErrorCodes.DATAPOINT_FORMAT_UNSUPPORTED)
  })

  // 0x01020304 = 16909060 in each wire order
  it.each([
    ['Int32_ABCD', '01 02 03 04'], ['Int32_CDAB', '03 04 01 02'], ['Int32_BADC', '02 01 04 03'], ['Int32_DCBA', '04 03 02 01']
  ])('%s reads %s as 0x01020304', (format, wire) => {
    const def = dp(1, 'x', format, 0, 4, null, null)
    expect(decodeDataPoint(hex(wire), def)).toEqual({ ok: true, value: { value: 0x01020304, unit: '', prefix: '' } })
    expect(encodeDataPoint(0x01020304, def)).toEqual(hex(wire))
  })

  it('Float32 values are the shortest decimal of the float32', () => {
    const def = dp(1, 't', 'Float32', 0, 4, null, 'C')
    expect(decodeDataPoint(hex('41 DF 70 A4'), def)).toEqual({ ok: true, value: { value: 27.93, unit: 'C', prefix: '' } })
    expect(decodeDataPoint(hex('70 A4 41 DF'), { ...def, dataFormat: 'Float32_CDAB' })).toEqual({ ok: true, value: { value: 27.93, unit: 'C', prefix: '' } })
  })

  it('non-finite floats fail with F2_DATAPOINT_NOT_FINITE', () => {
    const def = dp(1, 't', 'Float32', 0, 4, null, null)
    for (const wire of ['7F C0 00 00', '7F 80 00 00', 'FF 80 00 00']) {
      const r = decodeDataPoint(hex(wire), def)
      expect(!r.ok && r.error.code).toBe(ErrorCodes.DATAPOINT_NOT_FINITE)
    }
  })

  it('definition errors are typed', () => {
    const cases: Array<[Partial<DataPointDef>, string]> = [
      [{ length: 4 }, ErrorCodes.DATAPOINT_FORMAT_UNSUPPORTED], // Int16 with Length 4
      [{ dataFormat: 'Int64', length: 8 }, ErrorCodes.DATAPOINT_FORMAT_UNSUPPORTED],
      [{ offset: -1 }, ErrorCodes.DATAPOINT_DEFINITION_INVALID],
      [{ offset: 0.5 }, ErrorCodes.DATAPOINT_DEFINITION_INVALID],
      [{ length: 0 }, ErrorCodes.DATAPOINT_DEFINITION_INVALID],
      [{ decimals: -1 }, ErrorCodes.DATAPOINT_DEFINITION_INVALID],
      [{ decimals: 1.5 }, ErrorCodes.DATAPOINT_DEFINITION_INVALID],
      [{ dataEncoding: 'base85' }, ErrorCodes.DATAPOINT_ENCODING_UNSUPPORTED],
      [{ offset: 5 }, ErrorCodes.DATAPOINT_OUT_OF_RANGE]
    ]
    for (const [patch, code] of cases) {
      const r = decodeDataPoint(hex('00 01 02 03 04 05'), { ...(ENV_POINTS[0] as DataPointDef), ...patch })
      expect(!r.ok && r.error.code, JSON.stringify(patch)).toBe(code)
    }
  })
})

describe('encodings', () => {
  it.each([[null, 'raw'], ['', 'raw'], ['raw', 'raw'], ['RAW', 'raw'], ['hex', 'raw'], ['none', 'raw'], ['modbus-rtu', 'modbus-rtu'], ['Modbus_RTU', 'modbus-rtu'], ['modbus', 'modbus-rtu']])('%j → %s', (input, expected) => {
    expect(parseDataEncoding(input)).toEqual({ ok: true, value: expected })
  })

  it('modbus-rtu: offsets count from the first data byte; the CRC is checked', () => {
    const frame = buildModbusRtuReply(1, 3, hex('FD F3 17 70 01 9A'))
    const temp = { ...(ENV_POINTS[0] as DataPointDef), dataEncoding: 'modbus-rtu' }
    const co2 = { ...(ENV_POINTS[2] as DataPointDef), dataEncoding: 'modbus-rtu' }
    expect(decodeDataPoint(frame, temp)).toEqual({ ok: true, value: { value: -5.25, unit: '°C', prefix: '' } })
    expect(decodeDataPoint(frame, co2)).toEqual({ ok: true, value: { value: 410, unit: 'ppm', prefix: '' } })
    frame[frame.length - 1] = (frame[frame.length - 1] as number) ^ 1
    const r = decodeDataPoint(frame, temp)
    expect(!r.ok && r.error.code).toBe(ErrorCodes.MODBUS_CRC_MISMATCH)
  })
})

describe('encodeDataPoint ∘ decodeDataPoint round trip (seeded random values)', () => {
  const formats: Array<[string, number, number, number]> = [
    ['Int8', 1, -128, 127], ['Uint8', 1, 0, 255],
    ['Int16', 2, -32768, 32767], ['Uint16', 2, 0, 65535], ['Int16_BA', 2, -32768, 32767], ['Uint16_BA', 2, 0, 65535],
    ...(['ABCD', 'CDAB', 'BADC', 'DCBA'] as const).flatMap(o => [
      [`Int32_${o}`, 4, -2147483648, 2147483647] as [string, number, number, number],
      [`Uint32_${o}`, 4, 0, 4294967295] as [string, number, number, number]
    ])
  ]
  it.each(formats)('%s', (format, width, min, max) => {
    const rnd = prng(width * 1000 + format.length)
    for (let i = 0; i < 500; i++) {
      const decimals = randInt(rnd, 0, 4)
      const offset = randInt(rnd, 0, 3)
      const def = dp(1, 'x', format, offset, width, decimals, 'u')
      const raw = i === 0 ? min : i === 1 ? max : randInt(rnd, min, max)
      const value = shiftDecimal(raw, -decimals)
      const field = encodeDataPoint(value, def)
      expect(field.length).toBe(width)
      const payload = new Uint8Array(offset + width + randInt(rnd, 0, 3))
      payload.set(field, offset)
      expect(decodeDataPoint(payload, def)).toEqual({ ok: true, value: { value, unit: 'u', prefix: '' } })
    }
  })

  it.each(['Float32', 'Float32_CDAB', 'Float32_BADC', 'Float32_DCBA'])('%s', (format) => {
    const rnd = prng(99 + format.length)
    const def = dp(1, 'x', format, 0, 4, null, null)
    for (let i = 0; i < 1000; i++) {
      const bits = new DataView(new ArrayBuffer(4))
      bits.setUint32(0, Math.floor(rnd() * 2 ** 32))
      const f = bits.getFloat32(0)
      if (!Number.isFinite(f)) continue
      const r = decodeDataPoint(encodeDataPoint(f, def), def)
      expect(r.ok).toBe(true)
      if (r.ok) expect(Math.fround(r.value.value)).toBe(f)
    }
  })

  it('encodeDataPoint throws F2Error for values the format cannot hold', () => {
    expect(() => encodeDataPoint(327.68, ENV_POINTS[0] as DataPointDef)).toThrow(F2Error)
    expect(() => encodeDataPoint(-0.01, ENV_POINTS[1] as DataPointDef)).toThrow(F2Error)
    expect(() => encodeDataPoint(Number.NaN, ENV_POINTS[1] as DataPointDef)).toThrow(F2Error)
    expect(() => encodeDataPoint(1e39, dp(1, 'x', 'Float32', 0, 4, null, null))).toThrow(F2Error)
  })
})
