import { describe, expect, it } from 'vitest'
import { buildDeadLetter, encodeDeadLetter } from '../../../src/core/dead-letter.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import { readDeadLetter } from '../../../src/stages/fleet/records.ts'

describe('fleet records', () => {
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
