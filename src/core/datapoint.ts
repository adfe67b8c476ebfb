import { ErrorCodes, F2Error } from './errors.ts'
import { fail, ok, type Result } from './result.ts'
import { parseModbusRtuReply } from './modbus.ts'

/** One row of the registry's `DataPoint` table, as the registry store returns it. */
export type DataPointDef = {
  dataPointId: number
  label: string
  dataFormat: string
  dataEncoding: string | null
  /** Byte offset into the payload (raw) or into the Modbus data area (modbus-rtu). */
  offset: number
  /** Bytes; must equal the format's width. */
  length: number
  prepend: string | null
  append: string | null
  /** Display hint kept from the registry; not used in decoding (as in the seed). */
  wholeNumber: boolean | null
  /** The raw value is divided by 10^decimals when decimals > 0. */
  decimals: number | null
}

export type DecodedValue = { value: number; unit: string; prefix: string }

export type NumberType = 'int' | 'uint' | 'float'
/** A parsed `DataFormat`: `order` lists, per wire byte, its significance (A = most significant). */
export type DataFormat = { type: NumberType; width: 1 | 2 | 4; order: string; canonical: string }
export type DataEncoding = 'raw' | 'modbus-rtu'

const FORMAT_RE = /^(int|uint|float)(8|16|32)?(?:[_-]?(abcd|cdab|badc|dcba|ab|ba|be|le))?$/
const ORDERS: Record<number, readonly string[]> = { 1: ['A'], 2: ['AB', 'BA'], 4: ['ABCD', 'CDAB', 'BADC', 'DCBA'] }

/**
 * Parses a `DataFormat` (case-insensitive): `Int8`, `Uint8`, `Int16`, `Uint16`, `Int32`,
 * `Uint32`, `Float32` (`Float` = `Float32`), big-endian by default, with an optional byte
 * order suffix naming the wire order of the bytes, A being the most significant:
 * 16-bit `_AB` (default) / `_BA` (little-endian); 32-bit `_ABCD` (default), `_CDAB` (word
 * swap), `_BADC` (byte swap within words), `_DCBA` (little-endian). `_BE` / `_LE` are
 * aliases of the all-big / all-little orders. The separator may be `_`, `-` or nothing.
 */
export function parseDataFormat (format: string): Result<DataFormat> {
  const m = typeof format === 'string' ? FORMAT_RE.exec(format.trim().toLowerCase()) : null
  const unsupported = (): Result<never> => fail(ErrorCodes.DATAPOINT_FORMAT_UNSUPPORTED, `unsupported data format '${String(format).slice(0, 50)}'`, { format: String(format).slice(0, 50) })
  if (m === null) return unsupported()
  const type = m[1] as NumberType
  const width = (m[2] === undefined ? (type === 'float' ? 32 : 0) : Number(m[2])) / 8
  if (width !== 1 && width !== 2 && width !== 4) return unsupported()
  if (type === 'float' && width !== 4) return unsupported()
  const orders = ORDERS[width] as readonly string[]
  let order: string | undefined = orders[0]
  const suffix = m[3]
  if (suffix === 'be') order = orders[0]
  else if (suffix === 'le') order = orders[orders.length - 1]
  else if (suffix !== undefined) order = orders.find(o => o === suffix.toUpperCase())
  if (order === undefined || (width === 1 && suffix !== undefined)) return unsupported()
  const name = `${type === 'uint' ? 'Uint' : type === 'int' ? 'Int' : 'Float'}${width * 8}`
  return ok({ type, width, order, canonical: order === orders[0] ? name : `${name}_${order}` })
}

/**
 * Parses a `DataEncoding`: null, '', 'raw', 'none' or 'hex' → 'raw' (offsets count from the
 * payload's first byte, as the seed did); 'modbus-rtu' (also 'modbus_rtu', 'modbusrtu',
 * 'modbus') → CRC checked, offsets count from the first data byte after address, function
 * and byte count. Anything else is F2_DATAPOINT_ENCODING_UNSUPPORTED.
 */
export function parseDataEncoding (encoding: string | null | undefined): Result<DataEncoding> {
  const e = (encoding ?? '').trim().toLowerCase()
  if (e === '' || e === 'raw' || e === 'none' || e === 'hex') return ok('raw')
  if (e === 'modbus-rtu' || e === 'modbus_rtu' || e === 'modbusrtu' || e === 'modbus') return ok('modbus-rtu')
  return fail(ErrorCodes.DATAPOINT_ENCODING_UNSUPPORTED, `unsupported data encoding '${e.slice(0, 50)}'`, { encoding: e.slice(0, 50) })
}

/** Checks a definition's numbers and format; the parsed format on success. */
export function checkDataPointDef (def: DataPointDef): Result<DataFormat> {
  const bad = (reason: string): Result<never> => fail(ErrorCodes.DATAPOINT_DEFINITION_INVALID, `invalid data point definition '${String(def.label).slice(0, 100)}' (${reason})`, { reason, dataPointId: def.dataPointId, label: def.label })
  if (!Number.isSafeInteger(def.offset) || def.offset < 0) return bad('offset')
  if (!Number.isSafeInteger(def.length) || def.length < 1) return bad('length')
  if (def.decimals !== null && (!Number.isInteger(def.decimals) || def.decimals < 0 || def.decimals > 15)) return bad('decimals')
  const format = parseDataFormat(def.dataFormat)
  if (!format.ok) return format
  if (format.value.width !== def.length) {
    return fail(ErrorCodes.DATAPOINT_FORMAT_UNSUPPORTED, `data format ${format.value.canonical} needs length ${format.value.width}, definition says ${def.length}`, {
      format: def.dataFormat, width: format.value.width, length: def.length, dataPointId: def.dataPointId, label: def.label
    })
  }
  return format
}

/** Multiplies by 10^k through the decimal representation, so -525 → -5.25 exactly. */
export function shiftDecimal (x: number, k: number): number {
  if (k === 0 || x === 0) return x
  const [mantissa, exp] = String(x).split('e') as [string, string | undefined]
  return Number(`${mantissa}e${Number(exp ?? 0) + k}`)
}

/** The shortest decimal that reads back as the same float32 (27.93, not 27.930000305…). */
function shortestFloat32 (f: number): number {
  for (let p = 1; p <= 9; p++) {
    const v = Number(f.toPrecision(p))
    if (Math.fround(v) === f) return v
  }
  return f
}

function toBigEndian (wire: Uint8Array, order: string): Uint8Array {
  const be = new Uint8Array(wire.length)
  for (let k = 0; k < wire.length; k++) be[order.charCodeAt(k) - 65] = wire[k] as number
  return be
}

function readNumber (be: Uint8Array, f: DataFormat): number {
  const view = new DataView(be.buffer, be.byteOffset, be.byteLength)
  switch (`${f.type}${f.width}`) {
    case 'int1': return view.getInt8(0)
    case 'uint1': return view.getUint8(0)
    case 'int2': return view.getInt16(0)
    case 'uint2': return view.getUint16(0)
    case 'int4': return view.getInt32(0)
    case 'uint4': return view.getUint32(0)
    default: return shortestFloat32(view.getFloat32(0))
  }
}

function prefixAndUnit (def: DataPointDef): { unit: string; prefix: string } {
  return { unit: (def.append ?? '').trim(), prefix: (def.prepend ?? '').trim() }
}

/**
 * Decodes one data point from the bytes its offset counts from (the whole raw payload, or
 * the data area of a Modbus reply): slice, convert, scale. Float32 values come out as the
 * shortest decimal that identifies the float32. Never throws.
 */
export function decodeDataPointValue (data: Uint8Array, def: DataPointDef): Result<DecodedValue> {
  const format = checkDataPointDef(def)
  if (!format.ok) return format
  if (def.offset + def.length > data.length) {
    return fail(ErrorCodes.DATAPOINT_OUT_OF_RANGE, `data point '${def.label}' needs bytes ${def.offset}..${def.offset + def.length - 1}, payload has ${data.length}`, {
      dataPointId: def.dataPointId, label: def.label, offset: def.offset, length: def.length, available: data.length
    })
  }
  const raw = readNumber(toBigEndian(data.subarray(def.offset, def.offset + def.length), format.value.order), format.value)
  if (!Number.isFinite(raw)) {
    return fail(ErrorCodes.DATAPOINT_NOT_FINITE, `data point '${def.label}' decoded to ${raw}`, { dataPointId: def.dataPointId, label: def.label, raw: String(raw) })
  }
  const value = def.decimals !== null && def.decimals > 0 ? shiftDecimal(raw, -def.decimals) : raw
  return ok({ value, ...prefixAndUnit(def) })
}

/**
 * Decodes one data point from a sensor payload, honouring its `dataEncoding` (for
 * modbus-rtu the frame is checked and the offset counts from the first data byte).
 */
export function decodeDataPoint (payload: Uint8Array, def: DataPointDef): Result<DecodedValue> {
  const encoding = parseDataEncoding(def.dataEncoding)
  if (!encoding.ok) return encoding
  if (encoding.value === 'raw') return decodeDataPointValue(payload, def)
  const frame = parseModbusRtuReply(payload)
  if (!frame.ok) return frame
  return decodeDataPointValue(frame.value.data, def)
}

const INT_RANGES: Record<string, [number, number]> = {
  int1: [-128, 127], uint1: [0, 255], int2: [-32768, 32767], uint2: [0, 65535], int4: [-2147483648, 2147483647], uint4: [0, 4294967295]
}

/**
 * The `length` bytes that decode to `value` under `def` (the field only, not placed at its
 * offset; see encodeSensorFrame). Integers are scaled by 10^decimals and rounded half away
 * from zero. Throws F2Error for an invalid definition or a value the format cannot hold
 * (a programmer error in the caller).
 */
export function encodeDataPoint (value: number, def: DataPointDef): Uint8Array {
  const format = checkDataPointDef(def)
  if (!format.ok) throw new F2Error(format.error.code, format.error.message, { details: format.error.details })
  const f = format.value
  if (!Number.isFinite(value)) throw new F2Error(ErrorCodes.DATAPOINT_NOT_FINITE, `cannot encode ${value}`)
  const scaled = def.decimals !== null && def.decimals > 0 ? shiftDecimal(value, def.decimals) : value
  const be = new Uint8Array(f.width)
  const view = new DataView(be.buffer)
  if (f.type === 'float') {
    view.setFloat32(0, scaled)
    if (!Number.isFinite(view.getFloat32(0))) throw new F2Error(ErrorCodes.DATAPOINT_OUT_OF_RANGE, `${value} overflows ${f.canonical}`)
  } else {
    const n = Math.sign(scaled) * Math.round(Math.abs(scaled))
    const [min, max] = INT_RANGES[`${f.type}${f.width}`] as [number, number]
    if (n < min || n > max) throw new F2Error(ErrorCodes.DATAPOINT_OUT_OF_RANGE, `${value} does not fit ${f.canonical} with ${def.decimals ?? 0} decimals`)
    if (f.width === 1) view.setUint8(0, n & 0xff)
    else if (f.width === 2) view.setUint16(0, n & 0xffff)
    else view.setUint32(0, n >>> 0)
  }
  const wire = new Uint8Array(f.width)
  for (let k = 0; k < f.width; k++) wire[k] = be[f.order.charCodeAt(k) - 65] as number
  return wire
}
