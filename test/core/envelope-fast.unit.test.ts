import { describe, expect, it } from 'vitest'
import { decodeEnvelope, fastDecodeV1, V1Schema } from '../../src/core/envelope.ts'
import { pick, prng } from './helpers/prng.ts'

/** What the schema alone makes of a JSON-payload envelope (decodeEnvelope drops an absent message_id). */
function viaSchema (raw: Record<string, unknown>): Record<string, unknown> | undefined {
  const r = V1Schema.safeParse(raw)
  if (!r.success) return undefined
  const env: Record<string, unknown> = { ...r.data }
  if (env.message_id === undefined) delete env.message_id
  return env
}

const POOLS: Record<string, readonly unknown[]> = {
  schema_version: [1, 1, 1, 2, '1', undefined],
  original_topic: ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1', '', 3, undefined],
  device_id: ['e4fd45f654be', null, undefined, 5],
  payload: [{ timestamp: '2023-05-26 18:34:04.928538', data: '0AEA' }, 'text', 'AAE=', 12, null, [1, 2]],
  payload_encoding: ['json', 'json', 'text', 'base64', 'xml', undefined],
  timestamp: ['2023-05-26T18:34:05.000000Z', '2023-05-26T18:34:05Z', '2023-05-26 18:34:05', 1685126045, 'bad', '2023-02-30T00:00:00.000000Z'],
  qos: [0, 1, 2, 3, '1', undefined],
  retain: [false, true, 0, undefined],
  message_id: [undefined, undefined, '42', 42],
  extra: [undefined, 'x']
}

describe('fastDecodeV1', () => {
  it('answers only where the schema accepts, and then exactly as decodeEnvelope would', () => {
    const rnd = prng(5)
    let answered = 0
    for (let i = 0; i < 10_000; i++) {
      const raw: Record<string, unknown> = {}
      for (const [key, pool] of Object.entries(POOLS)) {
        const v = rnd() < 0.75 ? pool[0] : pick(rnd, pool)
        if (v !== undefined) raw[key] = v
      }
      const fast = fastDecodeV1(raw)
      if (fast === undefined) continue
      answered++
      const slow = viaSchema(raw)
      expect(slow, JSON.stringify(raw)).toBeDefined()
      expect(fast).toStrictEqual(slow)
      expect(Object.keys(fast)).toEqual(Object.keys(slow as object))
      expect(decodeEnvelope(Buffer.from(JSON.stringify(raw)))).toStrictEqual({ ok: true, value: fast })
    }
    expect(answered).toBeGreaterThan(1000)
  })
})
