import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../src/core/errors.ts'
import { extractMac, formatTopic, normalizeMac, normalizeMacLenient, parseTopic, type F2Topic } from '../../src/core/topic.ts'

const MAC = 'e4fd45f654be'

describe('parseTopic: every example of f2-protocol.md', () => {
  const cases: Array<[string, Omit<F2Topic, 'mac'>]> = [
    ['stat/f2-e4fd45f654be/access-control-mode/J2/door-sensors', { kind: 'stat', mode: 'access-control-mode', connector: 2, component: 'door-sensors', position: null, sub: null }],
    ['tele/f2-e4fd45f654be/access-control-mode/J2/reader-1', { kind: 'tele', mode: 'access-control-mode', connector: 2, component: 'reader', position: 1, sub: null }],
    ['cmnd/f2-e4fd45f654be/access-control-mode/J2/strike-1', { kind: 'cmnd', mode: 'access-control-mode', connector: 2, component: 'strike', position: 1, sub: null }],
    ['stat/f2-e4fd45f654be/alarm-mode/J1/motion-sensor-1', { kind: 'stat', mode: 'alarm-mode', connector: 1, component: 'motion-sensor', position: 1, sub: null }],
    ['cmnd/f2-e4fd45f654be/alarm-mode/J1/siren-1', { kind: 'cmnd', mode: 'alarm-mode', connector: 1, component: 'siren', position: 1, sub: null }],
    ['tele/f2-e4fd45f654be/sensor-mode/J4/sensor-3', { kind: 'tele', mode: 'sensor-mode', connector: 4, component: 'sensor', position: 3, sub: null }],
    ['stat/f2-e4fd45f654be/access-control-mode/J3/strike-2', { kind: 'stat', mode: 'access-control-mode', connector: 3, component: 'strike', position: 2, sub: null }],
    ['stat/f2-e4fd45f654be/access-control-mode/J2/exit-buttons', { kind: 'stat', mode: 'access-control-mode', connector: 2, component: 'exit-buttons', position: null, sub: null }],
    ['cmnd/f2-e4fd45f654be/access-control-mode/J2/reader-2/success', { kind: 'cmnd', mode: 'access-control-mode', connector: 2, component: 'reader', position: 2, sub: 'success' }],
    ['stat/f2-e4fd45f654be/alarm-mode/J1/siren-2', { kind: 'stat', mode: 'alarm-mode', connector: 1, component: 'siren', position: 2, sub: null }],
    ['stat/f2-e4fd45f654be/alarm-mode/J4/motion-sensor-5', { kind: 'stat', mode: 'alarm-mode', connector: 4, component: 'motion-sensor', position: 5, sub: null }],
    ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-6', { kind: 'tele', mode: 'sensor-mode', connector: 1, component: 'sensor', position: 6, sub: null }]
  ]
  it.each(cases)('%s', (topic, expected) => {
    const r = parseTopic(topic)
    expect(r).toEqual({ ok: true, value: { ...expected, mac: MAC } })
    if (r.ok) expect(formatTopic(r.value)).toBe(topic)
  })
})

describe('parseTopic: tolerated spellings', () => {
  it.each([
    ['cmnd/f2-e4fd45f654be/sensor-mode/1/sensor-1', 1], // the seed simulator's bare connector digit
    ['tele/f2-E4FD45F654BE/sensor-mode/J3/sensor-1', 3],
    ['tele/f2-E4:FD:45:F6:54:BE/sensor-mode/j2/sensor-1', 2],
    ['tele/F2-e4fd45f654be/sensor-mode/J4/sensor-1', 4]
  ])('%s', (topic, connector) => {
    const r = parseTopic(topic)
    expect(r.ok && r.value.mac).toBe(MAC)
    expect(r.ok && r.value.connector).toBe(connector)
    if (r.ok) expect(formatTopic(r.value)).toBe(`${r.value.kind}/f2-${MAC}/sensor-mode/J${connector}/sensor-1`)
  })
})

describe('parseTopic: invalid topics carry a reason', () => {
  it.each([
    ['', 'too-few-levels'],
    ['tele/f2-e4fd45f654be/sensor-mode/J1', 'too-few-levels'],
    ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1/success/x', 'too-many-levels'],
    ['data/f2-e4fd45f654be/sensor-mode/J1/sensor-1', 'unknown-kind'],
    ['TELE/f2-e4fd45f654be/sensor-mode/J1/sensor-1', 'unknown-kind'],
    ['tele/e4fd45f654be/sensor-mode/J1/sensor-1', 'device-level-not-f2'],
    ['tele/f2-e4fd45f654b/sensor-mode/J1/sensor-1', 'invalid-mac'],
    ['tele/f2-e4fd45f654bg/sensor-mode/J1/sensor-1', 'invalid-mac'],
    ['tele/f2-e4fd45f654be/party-mode/J1/sensor-1', 'unknown-mode'],
    ['tele/f2-e4fd45f654be/sensor-mode/J5/sensor-1', 'invalid-connector'],
    ['tele/f2-e4fd45f654be/sensor-mode/J0/sensor-1', 'invalid-connector'],
    ['tele/f2-e4fd45f654be/sensor-mode/J12/sensor-1', 'invalid-connector'],
    ['tele/f2-e4fd45f654be/sensor-mode/+/sensor-1', 'invalid-connector'],
    ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-7', 'position-out-of-range'],
    ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-0', 'position-out-of-range'],
    ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-01', 'invalid-position'],
    ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor', 'invalid-position'],
    ['stat/f2-e4fd45f654be/access-control-mode/J1/strike-3', 'position-out-of-range'],
    ['tele/f2-e4fd45f654be/access-control-mode/J1/reader-3', 'position-out-of-range'],
    ['stat/f2-e4fd45f654be/alarm-mode/J1/siren-3', 'position-out-of-range'],
    ['stat/f2-e4fd45f654be/alarm-mode/J1/motion-sensor-6', 'position-out-of-range'],
    ['stat/f2-e4fd45f654be/access-control-mode/J1/door-sensors-1', 'invalid-position'],
    ['stat/f2-e4fd45f654be/alarm-mode/J1/strike-1', 'component-not-in-mode'],
    ['tele/f2-e4fd45f654be/access-control-mode/J1/sensor-1', 'component-not-in-mode'],
    ['stat/f2-e4fd45f654be/sensor-mode/J1/door-sensors', 'component-not-in-mode'],
    ['stat/f2-e4fd45f654be/access-control-mode/J1/strike-1/success', 'sub-level-not-allowed'],
    ['tele/f2-e4fd45f654be/access-control-mode/J1/reader-1/success', 'sub-level-not-allowed'],
    ['cmnd/f2-e4fd45f654be/access-control-mode/J1/reader-1/fail', 'unknown-sub-level'],
    ['tele/f2-e4fd45f654be/sensor-mode/J1/#', 'invalid-component'],
    ['tele/f2-e4fd45f654be/sensor-mode/J1/', 'invalid-component']
  ])('%s → %s', (topic, reason) => {
    const r = parseTopic(topic)
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.error.code).toBe(ErrorCodes.TOPIC_INVALID)
      expect(r.error.details?.reason).toBe(reason)
    }
  })

  it('an unknown component (BLE beacon) is F2_TOPIC_UNKNOWN_COMPONENT with the device attributed', () => {
    const r = parseTopic('tele/f2-e4fd45f654be/sensor-mode/J1/ble-beacon-1')
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.error.code).toBe(ErrorCodes.TOPIC_UNKNOWN_COMPONENT)
      expect(r.error.details).toMatchObject({ kind: 'tele', mac: MAC, mode: 'sensor-mode', connector: 1, component: 'ble-beacon-1' })
    }
  })

  it('does not throw on a non-string', () => {
    expect(parseTopic(42 as unknown as string).ok).toBe(false)
  })
})

describe('MAC helpers', () => {
  it.each([
    ['e4fd45f654be', MAC], ['E4FD45F654BE', MAC], ['E4:fd:45:F6:54:be', MAC], [' e4fd45f654be ', MAC],
    ['e4-fd-45-f6-54-be', null], ['e4fd45f654', null], ['', null], ['e4:fd:45:f6:54be', null]
  ])('normalizeMac(%j) = %j', (input, expected) => {
    expect(normalizeMac(input)).toBe(expected)
  })
  it.each([
    [' E4:FD:45-F6:54:BE ', MAC], ['e4-fd-45-f6-54-be', MAC], ['e4:fd:45:f6:54be', MAC], ['E4FD45F654BE', MAC],
    ['e4fd45f654', null], ['', null], ['--', null], ['e4 fd 45 f6 54 be', null], ['g4fd45f654be', null]
  ])('normalizeMacLenient(%j) = %j', (input, expected) => {
    expect(normalizeMacLenient(input)).toBe(expected)
  })
  it('extractMac works on topics that do not parse', () => {
    expect(extractMac('tele/f2-E4FD45F654BE/whatever')).toBe(MAC)
    expect(extractMac('tele/x/whatever')).toBe(null)
    expect(extractMac('')).toBe(null)
  })
})
