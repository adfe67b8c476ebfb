import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../src/core/errors.ts'
import { buildEnvelope, decodeEnvelope, encodeEnvelope, encodeEnvelopeOf, payloadBytes, type RawEnvelope } from '../../src/core/envelope.ts'
import { prng, randBytes } from './helpers/prng.ts'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)
const TOPIC = 'tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1'
const AT = 1685126045123.456

function build (payload: Uint8Array, topic = TOPIC): RawEnvelope {
  return buildEnvelope({ topic, payload, receivedAtMs: AT, qos: 1, retain: false })
}

describe('buildEnvelope', () => {
  it('JSON payloads are stored parsed', () => {
    const env = build(enc('{"timestamp": "2023-05-26 18:34:04.928538", "data": "0x12a"}'))
    expect(env).toEqual({
      schema_version: 1, original_topic: TOPIC, device_id: 'e4fd45f654be',
      payload: { timestamp: '2023-05-26 18:34:04.928538', data: '0x12a' }, payload_encoding: 'json',
      timestamp: '2023-05-26T18:34:05.123456Z', qos: 1, retain: false
    })
  })

  it.each([
    ['1', 'json', 1], ['', 'text', ''], ['hello', 'text', 'hello'], ['{"a":', 'text', '{"a":'], ['\uFEFF{"a":1}', 'text', '\uFEFF{"a":1}']
  ])('%j → %s', (text, encoding, payload) => {
    const env = build(enc(text))
    expect(env.payload_encoding).toBe(encoding)
    expect(env.payload).toEqual(payload)
  })

  it('invalid UTF-8 is stored as base64 (strict check, no replacement characters)', () => {
    const bytes = Uint8Array.from([0x7b, 0xff, 0xfe, 0x7d])
    const env = build(bytes)
    expect(env.payload_encoding).toBe('base64')
    expect(env.payload).toBe(Buffer.from(bytes).toString('base64'))
    expect(payloadBytes(env)).toEqual(bytes)
  })

  it('device_id is the normalised MAC even when the topic does not parse', () => {
    expect(build(enc('{}'), 'tele/f2-E4:FD:45:F6:54:BE/sensor-mode/J1/ble-beacon').device_id).toBe('e4fd45f654be')
    expect(build(enc('{}'), 'some/other/topic').device_id).toBe(null)
  })

  it('keeps message_id when given', () => {
    const env = buildEnvelope({ topic: TOPIC, payload: enc('1'), receivedAtMs: AT, qos: 2, retain: true, messageId: '42' })
    expect(env.message_id).toBe('42')
    expect(decodeEnvelope(encodeEnvelope(env))).toEqual({ ok: true, value: env })
  })
})

describe('envelope round trip', () => {
  it('random bytes, including invalid UTF-8, come back exactly (text and base64) or semantically (json)', () => {
    const rnd = prng(5)
    const samples: Uint8Array[] = [enc('{"timestamp": "2023-05-26 18:34:04.928538", "status": true}'), enc('0'), enc('null'), enc('"x"'), enc('[1, 2]')]
    for (let i = 0; i < 2000; i++) samples.push(i % 2 === 0 ? randBytes(rnd, 64) : enc(String.fromCharCode(...randBytes(rnd, 32))))
    for (const bytes of samples) {
      const env = build(bytes)
      const back = decodeEnvelope(encodeEnvelope(env))
      expect(back).toEqual({ ok: true, value: env })
      if (env.payload_encoding === 'json') {
        expect(JSON.parse(new TextDecoder().decode(payloadBytes(env)))).toEqual(JSON.parse(new TextDecoder().decode(bytes)))
      } else {
        expect(payloadBytes(env)).toEqual(bytes)
      }
    }
  })
})

describe('encodeEnvelopeOf', () => {
  it('decodes to exactly what buildEnvelope gives, for JSON kept as sent, text, invalid UTF-8 and odd topics', () => {
    const rnd = prng(9)
    const payloads: Uint8Array[] = [
      '{"timestamp": "2023-05-26 18:34:04.928538", "data": "0x12a"}', ' { "a" : [1, 2.50, -0, 1e400, 12345678901234567890] } ', '{"a":1,"a":2}', '"\u2028\ud83d\ude00"',
      '0', 'null', '', ' ', 'hello', '{"a":', '\uFEFF{"a":1}', '"quote \\" inside"', '[[[[[[[[[[]]]]]]]]]]'
    ].map(enc)
    for (let i = 0; i < 2000; i++) payloads.push(i % 2 === 0 ? randBytes(rnd, 64) : enc(String.fromCharCode(...randBytes(rnd, 32))))
    const topics = [TOPIC, 'tele/F2-E4FD45F654BE/x', 'tele/f2-zz/x', 'a"b\\c', 'no-slash', 'tele/f2-e4fd45f654be']
    for (const [i, payload] of payloads.entries()) {
      const input = { topic: topics[i % topics.length] as string, payload, receivedAtMs: AT + i, qos: (i % 3) as 0 | 1 | 2, retain: i % 2 === 0, ...(i % 7 === 0 ? { messageId: `m"${i}` } : {}) }
      const bytes = encodeEnvelopeOf(input)
      expect(JSON.parse(bytes.toString('utf8'))).toBeTypeOf('object')
      // The payload as JSON.parse reads the device's text (1e400 is Infinity, -0 stays -0), where
      // re-serialising would have written null and 0.
      expect(decodeEnvelope(bytes)).toEqual({ ok: true, value: buildEnvelope(input) })
    }
  })
})

describe('decodeEnvelope', () => {
  it('accepts the seed\'s bare envelope', () => {
    const seed = { original_topic: 'cmnd/f2-e4fd45f654be/sensor-mode/1/sensor-1', device_id: 'e4fd45f654be', payload: { timestamp: '2023-05-26T18:34:04.928538', data: '0x12a' }, timestamp: 1685126045.5 }
    expect(decodeEnvelope(enc(JSON.stringify(seed)))).toEqual({
      ok: true,
      value: { schema_version: 1, original_topic: seed.original_topic, device_id: 'e4fd45f654be', payload: seed.payload, payload_encoding: 'json', timestamp: '2023-05-26T18:34:05.500000Z', qos: 0, retain: false }
    })
  })

  it('a seed envelope with the device JSON as a string is read as json; other strings as text', () => {
    const a = decodeEnvelope(enc(JSON.stringify({ original_topic: TOPIC, payload: '{"status": true}', timestamp: '2023-05-26T18:34:05Z' })))
    expect(a.ok && [a.value.payload_encoding, a.value.payload, a.value.device_id]).toEqual(['json', { status: true }, 'e4fd45f654be'])
    const b = decodeEnvelope(enc(JSON.stringify({ original_topic: TOPIC, device_id: null, payload: 'hi', timestamp: '2023-05-26T18:34:05Z' })))
    expect(b.ok && [b.value.payload_encoding, b.value.payload]).toEqual(['text', 'hi'])
  })

  const valid = { schema_version: 1, original_topic: TOPIC, device_id: null, payload: 'AAE=', payload_encoding: 'base64', timestamp: '2023-05-26T18:34:05.000000Z', qos: 0, retain: false }
  it.each([
    ['not JSON', enc('{')],
    ['invalid UTF-8', Uint8Array.from([0xff])],
    ['array', enc('[]')],
    ['no payload', enc(JSON.stringify({ ...valid, payload: undefined }))],
    ['version 2', enc(JSON.stringify({ ...valid, schema_version: 2 }))],
    ['bad qos', enc(JSON.stringify({ ...valid, qos: 3 }))],
    ['bad encoding', enc(JSON.stringify({ ...valid, payload_encoding: 'hex' }))],
    ['bad base64', enc(JSON.stringify({ ...valid, payload: 'A' }))],
    ['text payload not a string', enc(JSON.stringify({ ...valid, payload_encoding: 'text', payload: 5 }))],
    ['bad timestamp', enc(JSON.stringify({ ...valid, timestamp: 'now' }))],
    ['missing topic', enc(JSON.stringify({ ...valid, original_topic: undefined }))],
    ['seed without timestamp', enc(JSON.stringify({ original_topic: TOPIC, payload: {} }))]
  ])('rejects %s', (_name, bytes) => {
    const r = decodeEnvelope(bytes)
    expect(!r.ok && r.error.code).toBe(ErrorCodes.ENVELOPE_INVALID)
  })
})
