import { ErrorCodes } from './errors.ts'
import { fail, ok, type Result } from './result.ts'
import { toHex } from './hex.ts'

const CRC_TABLE = (() => {
  const table = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0xa001 : c >>> 1
    table[i] = c
  }
  return table
})()

/** CRC-16/MODBUS (poly 0x8005 reflected, init 0xFFFF). On the wire it is sent low byte first. */
export function crc16Modbus (bytes: Uint8Array): number {
  let crc = 0xffff
  for (const b of bytes) crc = (crc >>> 8) ^ (CRC_TABLE[(crc ^ b) & 0xff] as number)
  return crc
}

export type ModbusReply = { address: number; functionCode: number; data: Uint8Array }

/** Function codes whose replies carry `address, function, byteCount, data…, crcLo, crcHi`. */
export const MODBUS_READ_FUNCTIONS: readonly number[] = [0x03, 0x04]

function invalid (reason: string, bytes: Uint8Array, extra: Record<string, unknown> = {}): Result<never> {
  return fail(ErrorCodes.MODBUS_FRAME_INVALID, `invalid Modbus RTU reply (${reason})`, { reason, frame: toHex(bytes.subarray(0, 300)), ...extra })
}

function checkCrc (bytes: Uint8Array): Result<true> {
  const body = bytes.subarray(0, bytes.length - 2)
  const expected = crc16Modbus(body)
  const actual = (bytes[bytes.length - 2] as number) | ((bytes[bytes.length - 1] as number) << 8)
  if (expected !== actual) {
    return fail(ErrorCodes.MODBUS_CRC_MISMATCH, 'Modbus RTU CRC mismatch', {
      expected: expected.toString(16).padStart(4, '0'),
      actual: actual.toString(16).padStart(4, '0'),
      frame: toHex(bytes.subarray(0, 300))
    })
  }
  return ok(true)
}

/**
 * Parses a Modbus RTU reply to a read (function 0x03 or 0x04). The shape is checked first
 * (length = 3 + byteCount + 2 → else F2_MODBUS_FRAME_INVALID), then the CRC (little-endian
 * at the end → else F2_MODBUS_CRC_MISMATCH). An exception reply (function | 0x80, 5 bytes,
 * valid CRC) is F2_MODBUS_FRAME_INVALID with `details.exceptionCode`. Never throws.
 */
export function parseModbusRtuReply (bytes: Uint8Array): Result<ModbusReply> {
  if (!(bytes instanceof Uint8Array)) return invalid('not-bytes', new Uint8Array(0))
  if (bytes.length < 5) return invalid('too-short', bytes, { length: bytes.length })
  const address = bytes[0] as number
  const functionCode = bytes[1] as number
  if ((functionCode & 0x80) !== 0) {
    if (bytes.length !== 5) return invalid('exception-reply-length', bytes, { length: bytes.length })
    const crc = checkCrc(bytes)
    if (!crc.ok) return crc
    return invalid('exception-reply', bytes, { address, functionCode: functionCode & 0x7f, exceptionCode: bytes[2] })
  }
  if (!MODBUS_READ_FUNCTIONS.includes(functionCode)) return invalid('unsupported-function', bytes, { functionCode })
  const byteCount = bytes[2] as number
  if (bytes.length !== 3 + byteCount + 2) {
    return invalid('length-mismatch', bytes, { byteCount, expectedLength: 3 + byteCount + 2, length: bytes.length })
  }
  const crc = checkCrc(bytes)
  if (!crc.ok) return crc
  return ok({ address, functionCode, data: bytes.slice(3, 3 + byteCount) })
}

/**
 * Builds a read reply frame with its CRC. Throws a RangeError for an address or function
 * outside 0..255 or more than 255 data bytes (programmer error, not data).
 */
export function buildModbusRtuReply (address: number, functionCode: number, data: Uint8Array): Uint8Array {
  for (const [name, v] of [['address', address], ['functionCode', functionCode]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new RangeError(`buildModbusRtuReply: ${name} must be 0..255`)
  }
  if (data.length > 255) throw new RangeError('buildModbusRtuReply: at most 255 data bytes')
  const frame = new Uint8Array(3 + data.length + 2)
  frame[0] = address
  frame[1] = functionCode
  frame[2] = data.length
  frame.set(data, 3)
  const crc = crc16Modbus(frame.subarray(0, 3 + data.length))
  frame[3 + data.length] = crc & 0xff
  frame[4 + data.length] = crc >>> 8
  return frame
}
