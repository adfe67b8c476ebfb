import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../src/core/errors.ts'
import type { Failure, Result } from '../../src/core/result.ts'
import { parseTopic } from '../../src/core/topic.ts'
import { parseHex } from '../../src/core/hex.ts'
import { parsePythonBytesLiteral, classifyReaderBytes } from '../../src/core/python-bytes.ts'
import { buildEnvelope, decodeEnvelope, encodeEnvelope, type RawEnvelope } from '../../src/core/envelope.ts'
import { buildModbusRtuReply, parseModbusRtuReply } from '../../src/core/modbus.ts'
import { decodeMessage } from '../../src/core/decode.ts'
import { parseTimestamp } from '../../src/core/timestamp.ts'
import { parseMeasurement } from '../../src/core/measurement.ts'
import { decodeDeadLetter } from '../../src/core/dead-letter.ts'
import { pick, prng, randBytes, randInt, randString } from './helpers/prng.ts'
import { LIVING_ROOM } from './helpers/registry.ts'

const CODES = new Set<string>(Object.values(ErrorCodes))
const N = 3000

function typed (f: Failure): void {
  if (!CODES.has(f.code) || typeof f.message !== 'string') throw new Error(`untyped failure ${JSON.stringify(f)}`)
  if (f.details !== undefined) JSON.stringify(f.details)
}

function check<T> (r: Result<T>): void {
  if (r.ok !== true && r.ok !== false) throw new Error('not a Result')
  if (!r.ok) typed(r.error)
}

/** Replaces, inserts or deletes a few characters. */
function mutate (rnd: () => number, s: string, alphabet: string): string {
  let out = s
  for (let k = randInt(rnd, 1, 3); k > 0; k--) {
    const at = randInt(rnd, 0, out.length)
    const op = randInt(rnd, 0, 2)
    const c = alphabet[randInt(rnd, 0, alphabet.length - 1)] as string
    out = op === 0 ? out.slice(0, at) + c + out.slice(at + 1) : op === 1 ? out.slice(0, at) + c + out.slice(at) : out.slice(0, at) + out.slice(at + 1)
  }
  return out
}

const TOPICS = [
  'stat/f2-e4fd45f654be/access-control-mode/J2/door-sensors', 'tele/f2-e4fd45f654be/access-control-mode/J2/reader-1',
  'cmnd/f2-e4fd45f654be/access-control-mode/J2/strike-1', 'stat/f2-e4fd45f654be/alarm-mode/J1/motion-sensor-1',
  'cmnd/f2-e4fd45f654be/alarm-mode/J1/siren-1', 'tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1',
  'cmnd/f2-e4fd45f654be/access-control-mode/J2/reader-1/success', 'stat/f2-e4fd45f654be/access-control-mode/J2/exit-buttons'
]
const TOPIC_CHARS = 'abcdefJ0123456789-/+#:fF2 \u00e9\u0000'

describe('fuzz: only typed results, never a throw', () => {
  it('parseTopic', () => {
    const rnd = prng(101)
    for (let i = 0; i < N; i++) {
      check(parseTopic(mutate(rnd, pick(rnd, TOPICS), TOPIC_CHARS)))
      check(parseTopic(randString(rnd, TOPIC_CHARS, 60)))
      check(parseTopic(pick(rnd, TOPICS).split('/').sort(() => rnd() - 0.5).join('/')))
    }
  })

  it('parseHex', () => {
    const rnd = prng(102)
    for (let i = 0; i < N; i++) {
      check(parseHex(randString(rnd, '0123456789abcdefABCDEFxX \t-g', 40)))
      check(parseHex(String.fromCharCode(...randBytes(rnd, 40))))
    }
  })

  it('parsePythonBytesLiteral and classifyReaderBytes', () => {
    const rnd = prng(103)
    const frags = ["b'", 'b"', "'", '"', '\\', '\\x', '\\x4', '\\x41', '\\0', '\\777', '\\n', 'a', 'é', '\u{1F600}', '\n', '\ud800', 'B']
    for (let i = 0; i < N; i++) {
      let s = ''
      for (let k = randInt(rnd, 0, 12); k > 0; k--) s += pick(rnd, frags)
      const r = parsePythonBytesLiteral(s)
      check(r)
      if (r.ok) classifyReaderBytes(r.value)
      classifyReaderBytes(randBytes(rnd, 32))
    }
  })

  it('parseModbusRtuReply', () => {
    const rnd = prng(104)
    for (let i = 0; i < N; i++) {
      check(parseModbusRtuReply(randBytes(rnd, 40)))
      const frame = buildModbusRtuReply(randInt(rnd, 0, 255), pick(rnd, [3, 4]), randBytes(rnd, 30))
      const at = randInt(rnd, 0, frame.length - 1)
      frame[at] = randInt(rnd, 0, 255)
      check(parseModbusRtuReply(rnd() < 0.3 ? frame.subarray(0, randInt(rnd, 0, frame.length)) : frame))
    }
  })

  it('parseTimestamp and parseMeasurement', () => {
    const rnd = prng(105)
    const inputs: unknown[] = [null, undefined, true, {}, [], Number.NaN, -0, Number.MAX_VALUE, Number.MIN_VALUE, 1e300]
    for (let i = 0; i < N; i++) {
      inputs.push(mutate(rnd, '2023-05-26 18:34:04.928538', '0123456789-:. TZ+,'))
      inputs.push(mutate(rnd, '1685126044.928538', '0123456789.+-e'))
      inputs.push(randString(rnd, '0123456789-:.TZ+ ', 30))
      inputs.push((rnd() - 0.5) * 10 ** randInt(rnd, 0, 20))
    }
    for (const input of inputs) {
      check(parseTimestamp(input, pick(rnd, ['UTC', 'Europe/Berlin', 'Nowhere/Land', 'America/St_Johns'])))
      check(parseMeasurement({ timestamp: input, device_id: 'x', value: input, pin_position: input }))
    }
  })

  it('decodeEnvelope and decodeDeadLetter', () => {
    const rnd = prng(106)
    const valid = new TextDecoder().decode(encodeEnvelope(buildEnvelope({ topic: TOPICS[0] as string, payload: new TextEncoder().encode('{"a":1}'), receivedAtMs: 0, qos: 1, retain: false })))
    for (let i = 0; i < N; i++) {
      check(decodeEnvelope(randBytes(rnd, 80)))
      check(decodeEnvelope(new TextEncoder().encode(mutate(rnd, valid, '{}[]":,01tfnul\\ '))))
      check(decodeDeadLetter(randBytes(rnd, 80)))
    }
  })

  it('decodeMessage', () => {
    const rnd = prng(107)
    const values: unknown[] = [true, false, 0, 1, 2, -1, 1.5, null, 'x', '', [], {}, '0x12a', 'FD F3 17 70 01 9A', "b'abc'", "b'\\x02\\x03'",
      '2023-05-26 18:34:04.928538', 1685126044.5, Number.MAX_SAFE_INTEGER, 'b\'\\x', '01 03 0C 32 30 32 30 36 32 38 30 31 30 31 5B 18 28 01']
    const keys = ['timestamp', 'status', 'data', 'door-sensor-1', 'door-sensor-2', 'exit-button-1', 'power-flag', 'x', 'door-sensor-0', 'door-sensor-1000']
    for (let i = 0; i < N; i++) {
      const topicResult = parseTopic(pick(rnd, TOPICS))
      if (!topicResult.ok) throw new Error('fixture')
      let payload: Uint8Array
      if (rnd() < 0.2) payload = randBytes(rnd, 40)
      else {
        const obj: Record<string, unknown> = {}
        for (let k = randInt(rnd, 0, 5); k > 0; k--) obj[pick(rnd, keys)] = pick(rnd, values)
        payload = new TextEncoder().encode(rnd() < 0.1 ? JSON.stringify(pick(rnd, values)) : JSON.stringify(obj))
      }
      const envelope: RawEnvelope = buildEnvelope({ topic: pick(rnd, TOPICS), payload, receivedAtMs: 1685126045000, qos: 0, retain: false })
      const sensor = rnd() < 0.5 ? LIVING_ROOM : pick(rnd, [null, { ...LIVING_ROOM, dataPoints: LIVING_ROOM.dataPoints.map(d => ({ ...d, dataEncoding: pick(rnd, [null, 'modbus-rtu', 'x']) })) }])
      const out = decodeMessage({ envelope, topic: topicResult.value, sensor, zone: pick(rnd, ['UTC', 'Europe/Berlin']) })
      out.failures.forEach(typed)
      for (const m of out.measurements) expect(parseMeasurement(m)).toEqual({ ok: true, value: m })
    }
  })
})
