import { describe, expect, it } from 'vitest'
import { decodeDeadLetter } from '../../../src/core/dead-letter.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import { parseBatch, type SinkRecord } from '../../../src/stages/sink/records.ts'
import { measurement as fixture } from '../../../harness/measurement.ts'

const measurement = fixture(0, { timestamp: '2023-05-26T18:34:04.928538Z', value: 27.94, topic: 't', received_at: null })

const rec = (offset: number, value: unknown): SinkRecord => ({
  topic: 'decoded', partition: 1, offset: BigInt(offset), key: Buffer.from('e4fd45f654be'), value: Buffer.from(typeof value === 'string' ? value : JSON.stringify(value))
})

describe('sink parseBatch', () => {
  it('keeps valid rows with their source and dead-letters invalid ones', () => {
    const out = parseBatch([rec(0, measurement), rec(1, '{oops'), rec(2, { ...measurement, timestamp: 'not a time' }), rec(3, { ...measurement, mac_address: 'x', device_id: undefined })], Date.now())
    expect(out.rows).toHaveLength(2)
    expect(out.rows[1]?.device_id).toBe('x')
    expect(out.sources.map(s => s.offset)).toEqual([0n, 3n])
    expect(out.deadLetters.map(d => d.reason)).toEqual([ErrorCodes.MEASUREMENT_INVALID, ErrorCodes.MEASUREMENT_INVALID])
    const dl = decodeDeadLetter(out.deadLetters[1]?.value as Buffer)
    expect(dl.ok && dl.value.source).toEqual({ topic: 'decoded', partition: 1, offset: '2' })
    expect(dl.ok && dl.value.stage).toBe('sink')
  })
})
