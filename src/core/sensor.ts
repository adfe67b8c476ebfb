import { ErrorCodes, F2Error } from './errors.ts'
import { failure, type Failure } from './result.ts'
import { parseModbusRtuReply, buildModbusRtuReply, type ModbusReply } from './modbus.ts'
import { decodeDataPointValue, encodeDataPoint, parseDataEncoding, type DataPointDef } from './datapoint.ts'
import type { Result } from './result.ts'

/** A sensor wired to a controller's connector pin, with its template's data points (registry store output). */
export type SensorDefinition = {
  controllerMac: string
  controllerDeviceId: number
  connectorNumber: number
  pinPosition: number
  sensorDeviceId: number
  sensorName: string
  templateName: string
  dataPoints: DataPointDef[]
}

export type DecodedDataPoint = { def: DataPointDef; value: number; unit: string; prefix: string }
/** `def` is null for a failure of the whole frame (a Modbus reply that is malformed or fails its CRC). */
export type DataPointFailure = { def: DataPointDef | null; error: Failure }
export type SensorFrame = { values: DecodedDataPoint[]; failures: DataPointFailure[] }

/**
 * Decodes every data point of `sensor` from one payload. A data point that fails, fails
 * alone. Data points with the modbus-rtu encoding share one frame check: if it fails, they
 * produce a single failure with `def: null`. Two data points with the same label (which
 * would collide in the time-series key) → the later one fails with
 * F2_DATAPOINT_DEFINITION_INVALID. Never throws.
 */
export function decodeSensorFrame (bytes: Uint8Array, sensor: SensorDefinition): SensorFrame {
  const values: DecodedDataPoint[] = []
  const failures: DataPointFailure[] = []
  let frame: Result<ModbusReply> | undefined
  const seen = new Set<string>()
  for (const def of sensor.dataPoints) {
    if (seen.has(def.label)) {
      failures.push({ def, error: failure(ErrorCodes.DATAPOINT_DEFINITION_INVALID, `duplicate data point label '${def.label}' on template '${sensor.templateName}'`, { reason: 'duplicate-label', label: def.label, dataPointId: def.dataPointId }) })
      continue
    }
    seen.add(def.label)
    const encoding = parseDataEncoding(def.dataEncoding)
    if (!encoding.ok) { failures.push({ def, error: encoding.error }); continue }
    let data = bytes
    if (encoding.value === 'modbus-rtu') {
      if (frame === undefined) {
        frame = parseModbusRtuReply(bytes)
        if (!frame.ok) failures.push({ def: null, error: frame.error })
      }
      if (!frame.ok) continue
      data = frame.value.data
    }
    const r = decodeDataPointValue(data, def)
    if (r.ok) values.push({ def, ...r.value })
    else failures.push({ def, error: r.error })
  }
  return { values, failures }
}

/**
 * Builds the payload bytes a sensor would send for `values` (by data point label): each
 * field is placed at its offset in a zeroed buffer; when the data points use modbus-rtu the
 * buffer becomes the data area of a read reply (address 1, function 0x03 unless given).
 * Throws F2Error for a missing value, mixed encodings or a value the format cannot hold.
 */
export function encodeSensorFrame (dataPoints: readonly DataPointDef[], values: Readonly<Record<string, number>>, options: { address?: number; functionCode?: number } = {}): Uint8Array {
  const encodings = new Set(dataPoints.map(def => {
    const e = parseDataEncoding(def.dataEncoding)
    if (!e.ok) throw new F2Error(e.error.code, e.error.message)
    return e.value
  }))
  if (encodings.size > 1) throw new F2Error(ErrorCodes.DATAPOINT_DEFINITION_INVALID, 'encodeSensorFrame: data points mix encodings')
  const size = Math.max(0, ...dataPoints.map(def => def.offset + def.length))
  const data = new Uint8Array(size)
  for (const def of dataPoints) {
    const v = values[def.label]
    if (v === undefined) throw new F2Error(ErrorCodes.DATAPOINT_DEFINITION_INVALID, `encodeSensorFrame: no value for '${def.label}'`)
    data.set(encodeDataPoint(v, def), def.offset)
  }
  return encodings.has('modbus-rtu') ? buildModbusRtuReply(options.address ?? 1, options.functionCode ?? 0x03, data) : data
}
