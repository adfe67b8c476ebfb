import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ErrorCodes, F2Error } from '../../src/core/errors.ts'
import { buildDeadLetter, deadLetterMessageKey, deadLetterValue, decodeDeadLetter, encodeDeadLetter, encodeDeadLetterWithin } from '../../src/core/dead-letter.ts'

const value = Uint8Array.from([0xff, 0x00, 0x7b])

describe('dead letters', () => {
  it('build → encode → decode round trip, with the original bytes recoverable', () => {
    const dl = buildDeadLetter({
      reason: ErrorCodes.MODBUS_CRC_MISMATCH,
      message: 'Modbus RTU CRC mismatch',
      details: { expected: '1aae', big: 10n, raw: Uint8Array.from([1, 2]), nested: { nan: Number.NaN } },
      stage: 'processor',
      failedAtMs: 1685126045123.456,
      source: { topic: 'raw_iot_data', partition: 2, offset: '9007199254740993' },
      mqttTopic: 'tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1',
      originalKey: new TextEncoder().encode('e4fd45f654be'),
      originalValue: value
    })
    expect(dl).toMatchObject({
      schema_version: 1, reason: 'F2_MODBUS_CRC_MISMATCH', stage: 'processor', failed_at: '2023-05-26T18:34:05.123456Z',
      original_key: Buffer.from('e4fd45f654be').toString('base64'), original_value: '/wB7',
      details: { expected: '1aae', big: '10', raw: '0102', nested: { nan: 'NaN' } }
    })
    const back = decodeDeadLetter(encodeDeadLetter(dl))
    expect(back).toEqual({ ok: true, value: dl })
    if (back.ok) expect(deadLetterValue(back.value)).toEqual(value)
  })

  it('accepts a Failure or an F2Error as `error`', () => {
    const err = new F2Error(ErrorCodes.TOPIC_INVALID, 'bad topic', { details: { reason: 'x' } })
    const dl = buildDeadLetter({ error: err, stage: 'connector', failedAtMs: 0, mqttTopic: 'x', originalValue: new Uint8Array(0) })
    expect(dl).toEqual({
      schema_version: 1, reason: 'F2_TOPIC_INVALID', message: 'bad topic', stage: 'connector', failed_at: '1970-01-01T00:00:00.000000Z',
      source: null, mqtt_topic: 'x', original_key: null, original_value: '', message_key: deadLetterMessageKey('x', new Uint8Array(0)), details: { reason: 'x' }
    })
    expect(decodeDeadLetter(encodeDeadLetter(dl))).toEqual({ ok: true, value: dl })
  })

  it('keys a dead letter by its message: the same topic and bytes give one key, whatever the time or truncation', () => {
    const base = { reason: ErrorCodes.PAYLOAD_INVALID, message: 'm', stage: 'connector' as const, mqttTopic: 'tele/f2-aabbccddeeff/x', originalValue: value }
    const first = buildDeadLetter({ ...base, failedAtMs: 0 })
    expect(first.message_key).toMatch(/^[0-9a-f]{32}$/)
    expect(buildDeadLetter({ ...base, failedAtMs: 5000 }).message_key).toBe(first.message_key)
    // A truncated original keeps the key of the whole message.
    const truncated = decodeDeadLetter(encodeDeadLetterWithin({ ...base, failedAtMs: 0 }, 10_000, 1))
    expect(truncated.ok && truncated.value.message_key).toBe(first.message_key)
    expect(buildDeadLetter({ ...base, failedAtMs: 0, mqttTopic: 'tele/f2-aabbccddeef0/x' }).message_key).not.toBe(first.message_key)
    expect(buildDeadLetter({ ...base, failedAtMs: 0, originalValue: Buffer.from('other') }).message_key).not.toBe(first.message_key)
    expect(buildDeadLetter({ ...base, failedAtMs: 0, messageKey: 'given' }).message_key).toBe('given')
  })

  it.each([
    [{ reason: 'F2_NOT_A_CODE' }], [{ stage: 'sinkhole' }], [{ original_value: '!' }], [{ schema_version: 2 }], [{ source: { topic: 't', partition: -1, offset: '1' } }]
  ])('rejects %j', (patch) => {
    const dl = buildDeadLetter({ reason: ErrorCodes.PAYLOAD_INVALID, message: 'm', stage: 'sink', failedAtMs: 0, originalValue: value })
    const r = decodeDeadLetter(Buffer.from(JSON.stringify({ ...dl, ...patch })))
    expect(!r.ok && r.error.code).toBe(ErrorCodes.DEAD_LETTER_INVALID)
  })

  it('rejects non-JSON bytes', () => {
    expect(decodeDeadLetter(Uint8Array.from([0xff])).ok).toBe(false)
  })
})

describe('dead letters within a size bound', () => {
  const input = (original: Uint8Array, details?: Record<string, unknown>) => ({
    reason: ErrorCodes.PAYLOAD_NOT_JSON, message: 'm', stage: 'processor' as const, failedAtMs: 0,
    mqttTopic: 't', originalKey: Buffer.from('k'), originalValue: original, ...(details === undefined ? {} : { details })
  })

  it('keeps the original whole when it fits, byte for byte what encodeDeadLetter gives', () => {
    const original = Buffer.alloc(3000, 7)
    const bounded = encodeDeadLetterWithin(input(original), 10_000)
    expect(bounded).toEqual(encodeDeadLetter(buildDeadLetter(input(original))))
  })

  it.each([1_000_000, 10_000, 4097])('cuts a larger original to a prefix within %i bytes, with its size and SHA-256', limit => {
    const original = Buffer.alloc(900_000, 0x5c)
    const bytes = encodeDeadLetterWithin(input(original), limit)
    expect(bytes.length).toBeLessThanOrEqual(limit)
    expect(bytes.length).toBeGreaterThan(limit - 8)
    const dl = decodeDeadLetter(bytes)
    if (!dl.ok) throw new Error('undecodable')
    expect(dl.value.details).toEqual({ truncated: true, original_bytes: 900_000, original_sha256: createHash('sha256').update(original).digest('hex') })
    const kept = deadLetterValue(dl.value)
    expect(Buffer.from(kept)).toEqual(original.subarray(0, kept.length))
  })

  it('honours a smaller cap on the original, and replaces oversized details by their size', () => {
    const original = Buffer.alloc(5000, 1)
    const capped = decodeDeadLetter(encodeDeadLetterWithin(input(original), 1_000_000, 100))
    if (!capped.ok) throw new Error('undecodable')
    expect(deadLetterValue(capped.value).length).toBe(100)
    const noisy = encodeDeadLetterWithin(input(original, { quoted: 'x'.repeat(50_000) }), 40_000)
    expect(noisy.length).toBeLessThanOrEqual(40_000)
    const n = decodeDeadLetter(noisy)
    if (!n.ok) throw new Error('undecodable')
    expect(n.value.details).toMatchObject({ details_omitted: true, truncated: true, original_bytes: 5000 })
  })
})
