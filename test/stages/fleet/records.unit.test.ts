import { describe, expect, it } from 'vitest'
import { buildDeadLetter, encodeDeadLetter } from '../../../src/core/dead-letter.ts'
import { buildEnvelope, encodeEnvelope } from '../../../src/core/envelope.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import { fastRaw, readDeadLetter, readDecoded, readRaw } from '../../../src/stages/fleet/records.ts'
import { measurement } from '../../../harness/measurement.ts'

const raw = (topic: string, payload: string, retain = false) =>
  encodeEnvelope(buildEnvelope({ topic, payload: Buffer.from(payload), receivedAtMs: Date.UTC(2026, 0, 1), qos: 1, retain }))

describe('fleet records', () => {
  it('raw: controller, receipt time and mode, also for what cannot be decoded', () => {
    expect(readRaw(raw('tele/f2-E4FD45F654BE/sensor-mode/J1/sensor-1', 'garbage'))).toEqual({
      mac: 'e4fd45f654be', receivedAt: '2026-01-01T00:00:00.000000Z', receivedAtMs: Date.UTC(2026, 0, 1), mode: 'sensor-mode', presence: null, retained: false
    })
    expect(readRaw(raw('tele/f2-e4fd45f654be/beacon/J1/ble-1', '{}'))?.mode).toBeNull()
  })

  it('raw: presence messages, live or retained', () => {
    expect(readRaw(raw('tele/f2-e4fd45f654be/LWT', 'Offline'))).toMatchObject({ mac: 'e4fd45f654be', presence: 'offline', mode: null, retained: false })
    expect(readRaw(raw('tele/f2-e4fd45f654be/LWT', 'online', true))).toMatchObject({ presence: 'online', retained: true })
    expect(readRaw(raw('tele/f2-e4fd45f654be/LWT', 'what'))).toMatchObject({ presence: null })
  })

  it('raw: the fast path (no payload parsing) answers as the full decode, or leaves the record to it', () => {
    const full = (b: Buffer) => readRaw(Buffer.concat([Buffer.from(' '), b])) // a leading space: not the connector's form, decoded in full
    const payloads = ['{"timestamp":"2026-01-01T00:00:00.000000Z","data":"x"}', '"a \\"timestamp\\":\\"2020-01-01T00:00:00.000000Z\\" string"',
      ',"timestamp":"2020-01-01T00:00:00.000000Z"', '\u00ff\u00fe', '', '{"retain":true,"timestamp":"1999-01-01T00:00:00.000000Z"}']
    const topics = ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1', 'stat/F2-E4:FD:45:F6:54:BE/alarm-mode/J2/siren-1', 'tele/f2-e4fd45f654be/x', 'other/topic', 'tele/f2-e4fd45f654be/LWT', 'tele/f2-e4fd45f654be/sensor-mode/J1/"q"']
    let fast = 0
    for (const topic of topics) {
      for (const payload of payloads) {
        for (const retain of [false, true]) {
          const b = raw(topic, payload, retain)
          if (fastRaw(b) !== undefined) fast++
          expect(readRaw(b), `${topic} ${payload}`).toEqual(full(b))
        }
      }
    }
    expect(fast).toBeGreaterThan(30)
  })

  it('raw: nothing to attribute → null', () => {
    expect(readRaw(raw('devices/x/y', '{}'))).toBeNull()
    expect(readRaw(Buffer.from('not json'))).toBeNull()
    expect(readRaw(null)).toBeNull()
  })

  it('decoded: the reading as a last value; invalid → null', () => {
    const m = measurement(0, { timestamp: '2026-01-01T00:00:00.000000Z', value: 21.5, topic: 't', received_at: null })
    expect(readDecoded(Buffer.from(JSON.stringify(m)))).toEqual({
      mac: 'e4fd45f654be',
      value: { connector: 1, connector_mode: 'sensor-mode', datapoint_label: 'Temperature', pin_position: '1', value: 21.5, value_text: null, unit: '°C', timestamp: '2026-01-01T00:00:00.000000Z' }
    })
    expect(readDecoded(Buffer.from('{"device_id":"x"}'))).toBeNull()
    expect(readDecoded(Buffer.from('{'))).toBeNull()
  })

  it('dead letter: its row, attributed by its MQTT topic', () => {
    const dl = buildDeadLetter({ reason: ErrorCodes.HEX_INVALID, message: 'bad hex', stage: 'processor', failedAtMs: Date.UTC(2026, 0, 1), mqttTopic: 'tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1', originalValue: Buffer.from('x') })
    const row = readDeadLetter(encodeDeadLetter(dl), 2, 41n)
    expect(row).toMatchObject({ partition: 2, offset: '41', reason: 'F2_HEX_INVALID', stage: 'processor', device_id: 'e4fd45f654be', message: 'bad hex', failed_at: dl.failed_at })
    expect(row?.record).toEqual(dl)
    const unattributed = buildDeadLetter({ reason: ErrorCodes.ENVELOPE_INVALID, message: 'm', stage: 'processor', failedAtMs: 0, originalValue: Buffer.from('') })
    expect(readDeadLetter(encodeDeadLetter(unattributed), 0, 0n)?.device_id).toBeNull()
    expect(readDeadLetter(Buffer.from('{}'), 0, 0n)).toBeNull()
  })
})
