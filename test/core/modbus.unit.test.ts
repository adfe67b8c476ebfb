import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../src/core/errors.ts'
import { parseHex } from '../../src/core/hex.ts'
import { buildModbusRtuReply, crc16Modbus, parseModbusRtuReply } from '../../src/core/modbus.ts'
import { prng, randBytes, randInt } from './helpers/prng.ts'

function hex (s: string): Uint8Array {
  const r = parseHex(s)
  if (!r.ok) throw new Error(r.error.message)
  return r.value
}

describe('crc16Modbus', () => {
  it('matches the CRC-16/MODBUS check value and a textbook frame', () => {
    expect(crc16Modbus(new TextEncoder().encode('123456789'))).toBe(0x4b37)
    // read holding registers request 01 03 00 00 00 0A → CRC C5 CD on the wire
    expect(crc16Modbus(hex('01 03 00 00 00 0A'))).toBe(0xcdc5)
    expect(crc16Modbus(new Uint8Array(0))).toBe(0xffff)
  })
})

describe('the example frame of f2-protocol.md', () => {
  const example = hex('01 03 0C 32 30 32 30 36 32 38 30 31 30 31 5B 18 28 01')

  it('is not a valid Modbus RTU reply: 18 bytes where the byte count 0x0C implies 17', () => {
    const r = parseModbusRtuReply(example)
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.error.code).toBe(ErrorCodes.MODBUS_FRAME_INVALID)
      expect(r.error.details).toMatchObject({ reason: 'length-mismatch', byteCount: 12, expectedLength: 17, length: 18 })
    }
  })

  it('and no prefix of it carries a valid CRC either', () => {
    for (let n = 3; n <= example.length; n++) {
      const body = example.subarray(0, n - 2)
      const crc = (example[n - 2] as number) | ((example[n - 1] as number) << 8)
      expect(crc16Modbus(body)).not.toBe(crc)
    }
    // truncated to the length its byte count implies, it fails on the CRC
    const r = parseModbusRtuReply(example.subarray(0, 17))
    expect(!r.ok && r.error.code).toBe(ErrorCodes.MODBUS_CRC_MISMATCH)
    expect(!r.ok && r.error.details).toMatchObject({ expected: '1aae', actual: '2818' })
  })
})

describe('parseModbusRtuReply', () => {
  it('parses a built reply (function 0x03 and 0x04)', () => {
    const data = hex('FD F3 17 70 01 9A')
    for (const fn of [0x03, 0x04]) {
      const frame = buildModbusRtuReply(7, fn, data)
      expect(frame.length).toBe(3 + 6 + 2)
      expect(parseModbusRtuReply(frame)).toEqual({ ok: true, value: { address: 7, functionCode: fn, data } })
    }
  })

  it('detects a flipped bit as a CRC mismatch', () => {
    const frame = buildModbusRtuReply(1, 3, hex('00 01 00 02'))
    frame[4] = (frame[4] as number) ^ 0x10
    const r = parseModbusRtuReply(frame)
    expect(!r.ok && r.error.code).toBe(ErrorCodes.MODBUS_CRC_MISMATCH)
  })

  it('reports an exception reply with its exception code', () => {
    const body = Uint8Array.from([1, 0x83, 0x02])
    const crc = crc16Modbus(body)
    const r = parseModbusRtuReply(Uint8Array.from([...body, crc & 0xff, crc >> 8]))
    expect(!r.ok && r.error.code).toBe(ErrorCodes.MODBUS_FRAME_INVALID)
    expect(!r.ok && r.error.details).toMatchObject({ reason: 'exception-reply', functionCode: 3, exceptionCode: 2 })
  })

  it.each([
    ['', 'too-short'], ['01 03 00 00', 'too-short'], ['01 06 00 01 00 03 98 0B', 'unsupported-function'],
    ['01 03 04 00 01 00 02 00', 'length-mismatch'], ['01 83 02 C0 F1 00', 'exception-reply-length']
  ])('rejects %j (%s)', (input, reason) => {
    const r = parseModbusRtuReply(hex(input))
    expect(!r.ok && r.error.code).toBe(ErrorCodes.MODBUS_FRAME_INVALID)
    expect(!r.ok && r.error.details?.reason).toBe(reason)
  })

  it('round-trips random replies', () => {
    const rnd = prng(3)
    for (let i = 0; i < 2000; i++) {
      const data = randBytes(rnd, 255)
      const address = randInt(rnd, 0, 255)
      const fn = rnd() < 0.5 ? 3 : 4
      expect(parseModbusRtuReply(buildModbusRtuReply(address, fn, data))).toEqual({ ok: true, value: { address, functionCode: fn, data } })
    }
  })

  it('buildModbusRtuReply throws on programmer error', () => {
    expect(() => buildModbusRtuReply(256, 3, new Uint8Array(0))).toThrow(RangeError)
    expect(() => buildModbusRtuReply(1, 3, new Uint8Array(256))).toThrow(RangeError)
  })
})
