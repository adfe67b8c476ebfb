import { describe, expect, it } from 'vitest'
import { buildEnvelope } from '../../src/core/envelope.ts'
import { ErrorCodes } from '../../src/core/errors.ts'
import { presenceOf } from '../../src/core/presence.ts'
import { parsePresenceTopic, parseTopic, presenceTopic } from '../../src/core/topic.ts'

const env = (payload: string) => buildEnvelope({ topic: 'tele/f2-e4fd45f654be/LWT', payload: Buffer.from(payload), receivedAtMs: 0, qos: 1, retain: true })

describe('presence topic', () => {
  it.each([
    ['tele/f2-e4fd45f654be/LWT', 'e4fd45f654be'],
    ['tele/F2-E4:FD:45:F6:54:BE/LWT', 'e4fd45f654be'],
    ['tele/f2-e4fd45f654be/lwt', null],
    ['stat/f2-e4fd45f654be/LWT', null],
    ['cmnd/f2-e4fd45f654be/LWT', null],
    ['tele/f2-e4fd45f654be/sensor-mode/LWT', null],
    ['tele/f2-xyz/LWT', null],
    ['tele/x2-e4fd45f654be/LWT', null],
    ['tele//LWT', null],
    ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1', null]
  ])('%s → %s', (topic, mac) => {
    expect(parsePresenceTopic(topic)).toBe(mac)
  })

  it('round-trips the topic a controller uses', () => {
    expect(parsePresenceTopic(presenceTopic('e4fd45f654be'))).toBe('e4fd45f654be')
    // The reading grammar does not claim it: presence is a topic of its own.
    expect(parseTopic(presenceTopic('e4fd45f654be')).ok).toBe(false)
  })
})

describe('presence payload', () => {
  it.each([['online', 'online'], ['offline', 'offline'], ['Online', 'online'], [' Offline\n', 'offline'], ['"online"', 'online']])('%j → %s', (payload, state) => {
    expect(presenceOf(env(payload))).toEqual({ ok: true, value: state })
  })

  it.each(['', 'on', '1', '{"state":"online"}', 'offline now'])('%j is F2_PAYLOAD_INVALID', payload => {
    const r = presenceOf(env(payload))
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.code).toBe(ErrorCodes.PAYLOAD_INVALID)
  })

  it('refuses bytes that are not text', () => {
    const r = presenceOf(buildEnvelope({ topic: 'tele/f2-e4fd45f654be/LWT', payload: new Uint8Array([0xff, 0xfe]), receivedAtMs: 0, qos: 1, retain: false }))
    expect(r.ok).toBe(false)
  })
})
