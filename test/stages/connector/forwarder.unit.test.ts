import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { buildRecord, KAFKA_MESSAGE_MAX_BYTES, recordBytes, type KafkaRecord } from '../../../src/adapters/kafka.ts'
import { decodeDeadLetter, deadLetterValue } from '../../../src/core/dead-letter.ts'
import { decodeEnvelope } from '../../../src/core/envelope.ts'
import { createForwarder, type Pending } from '../../../src/stages/connector/forwarder.ts'
import { recordKey, toRecord, topicKind } from '../../../src/stages/connector/records.ts'

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function item (i: number, acks: number[], stale = false): Pending {
  return { record: buildRecord('raw', 'k', Buffer.from(String(i))), ack: () => acks.push(i), stale: () => stale, deadLetterReason: null }
}

describe('forwarder', () => {
  it('acknowledges a message only after the produce call carrying it succeeded, in order, retrying failures', async () => {
    const acks: number[] = []
    const sent: string[][] = []
    let failures = 2
    let release: (() => void) | undefined
    const f = createForwarder({
      send: async (records: KafkaRecord[]) => {
        if (failures-- > 0) throw new Error('kafka down')
        await new Promise<void>(resolve => { release = resolve })
        sent.push(records.map(r => r.value?.toString() ?? ''))
      },
      batchSize: 3, batchBytes: 1_000_000, lingerMs: 1, retryMinMs: 1, retryMaxMs: 2
    })
    for (let i = 0; i < 5; i++) f.push(item(i, acks))
    await sleep(50)
    expect(acks).toEqual([]) // two failed attempts, the third is waiting on Kafka
    expect(f.pending()).toBe(5)
    release?.()
    await sleep(20)
    expect(acks).toEqual([0, 1, 2])
    release?.()
    expect(await f.drain(1000)).toBe(true)
    expect(sent).toEqual([['0', '1', '2'], ['3', '4']])
    expect(acks).toEqual([0, 1, 2, 3, 4])
  })

  it('never acknowledges while Kafka keeps failing, and stops cleanly', async () => {
    const acks: number[] = []
    let attempts = 0
    const f = createForwarder({ send: async () => { attempts++; throw new Error('down') }, batchSize: 10, batchBytes: 1_000_000, lingerMs: 0, retryMinMs: 1, retryMaxMs: 5 })
    for (let i = 0; i < 3; i++) f.push(item(i, acks))
    expect(await f.drain(100)).toBe(false)
    f.stop()
    expect(acks).toEqual([])
    expect(attempts).toBeGreaterThan(3)
  })

  it('drops unsent messages of a closed connection (the broker redelivers them) and bounds batch bytes', async () => {
    const acks: number[] = []
    const batches: number[] = []
    let stale = 0
    const f = createForwarder({ send: async r => { batches.push(r.length) }, batchSize: 100, batchBytes: 2, lingerMs: 5, retryMinMs: 1, retryMaxMs: 2, onStale: n => { stale += n } })
    f.push(item(1, acks, true))
    for (let i = 2; i < 7; i++) f.push(item(i, acks))
    expect(await f.drain(1000)).toBe(true)
    expect(stale).toBe(1)
    expect(acks).toEqual([2, 3, 4, 5, 6])
    expect(batches).toEqual([2, 2, 1])
  })

  it('splits a batch the broker refuses until the refused record stands alone, replaces it by its dead letter, and goes on', async () => {
    const acks: number[] = []
    const sent: string[][] = []
    let blockedWhileRefusing = -1
    // The broker's answer to a record it refuses (shape of the client's protocol error).
    const refused = Object.assign(new Error('produce failed'), { errors: [{ apiId: 'MESSAGE_TOO_LARGE' }] })
    const f = createForwarder({
      send: async records => {
        const values = records.map(r => r.value?.toString() ?? '')
        if (values.includes('bad')) throw refused
        sent.push(values)
      },
      batchSize: 8, batchBytes: 1_000_000, lingerMs: 1, retryMinMs: 1, retryMaxMs: 2
    })
    const rejected: string[] = []
    for (let i = 0; i < 8; i++) {
      const p = item(i, acks)
      if (i === 5) {
        p.record = buildRecord('raw', 'k', Buffer.from('bad'))
        p.rejected = () => { blockedWhileRefusing = f.blockedSeconds(); return { record: buildRecord('dlq', 'k', Buffer.from('dl-5')), reason: 'F2_RECORD_REJECTED' } }
      }
      f.push(p)
    }
    const f2 = createForwarder({ send: async () => { throw refused }, batchSize: 1, batchBytes: 1_000_000, lingerMs: 0, retryMinMs: 1, retryMaxMs: 2, onDropped: p => rejected.push(p.record.value?.toString() ?? '') })
    f2.push({ ...item(99, acks), deadLetterReason: 'F2_PAYLOAD_TOO_LARGE' })
    expect(await f.drain(1000)).toBe(true)
    expect(await f2.drain(1000)).toBe(true)
    expect(sent.flat()).toEqual(['0', '1', '2', '3', '4', 'dl-5', '6', '7'])
    expect(acks.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 99])
    expect(rejected).toEqual(['99'])
    expect(blockedWhileRefusing).toBeLessThan(0.1) // a refusal is not an outage: no backoff
  })

  it('counts the bytes held until acknowledged and reports how long a batch has been failing', async () => {
    let fail = true
    const f = createForwarder({ send: async () => { if (fail) throw new Error('down') }, batchSize: 10, batchBytes: 1_000_000, lingerMs: 0, retryMinMs: 5, retryMaxMs: 10 })
    for (let i = 0; i < 3; i++) f.push({ ...item(i, []), bytes: 100 })
    expect(f.pendingBytes()).toBe(300)
    await sleep(60)
    expect(f.blockedSeconds()).toBeGreaterThan(0.03)
    fail = false
    expect(await f.drain(1000)).toBe(true)
    expect([f.pendingBytes(), f.blockedSeconds()]).toEqual([0, 0])
  })
})

describe('records', () => {
  const limits = { topic: 'raw', deadLetterTopic: 'dlq', maxPayloadBytes: 10, maxRecordBytes: 1_048_588, deadLetterMaxBytes: 4 }
  it('keys by controller MAC, else by topic; labels kinds', () => {
    expect(recordKey('tele/f2-E4FD45F654BE/sensor-mode/J1/sensor-1')).toBe('e4fd45f654be')
    expect(recordKey('weird/topic')).toBe('weird/topic')
    expect(['tele/x', 'stat/x', 'cmnd/x', 'other/x', 'tele'].map(topicKind)).toEqual(['tele', 'stat', 'cmnd', 'other', 'tele'])
  })
  it('marks retained messages in the envelope and dead-letters oversize payloads', () => {
    const ok = toRecord({ topic: 'stat/f2-e4fd45f654be/alarm-mode/J1/siren-1', payload: Buffer.from('{"a":1}'), qos: 1, retain: true, receivedAtMs: 0 }, limits)
    expect(ok.deadLetterReason).toBeNull()
    const env = decodeEnvelope(ok.record.value ?? Buffer.alloc(0))
    expect(env.ok && env.value.retain).toBe(true)
    const big = toRecord({ topic: 't', payload: Buffer.alloc(11), qos: 1, retain: false, receivedAtMs: 0 }, limits)
    expect(big.deadLetterReason).toBe('F2_PAYLOAD_TOO_LARGE')
    expect(big.record.topic).toBe('dlq')
  })

  it('dead-letters a payload whose envelope exceeds the record limit: 200 KB of 0x01 escapes to 1.2 MB', () => {
    const payload = Buffer.alloc(200_000, 1)
    const limitsOf = { topic: 'raw', deadLetterTopic: 'dlq', maxPayloadBytes: 512 * 1024, maxRecordBytes: KAFKA_MESSAGE_MAX_BYTES, deadLetterMaxBytes: 600_000 }
    const r = toRecord({ topic: 'tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1', payload, qos: 1, retain: false, receivedAtMs: 0 }, limitsOf)
    expect(r.deadLetterReason).toBe('F2_RECORD_TOO_LARGE')
    expect(recordBytes(r.record)).toBeLessThanOrEqual(KAFKA_MESSAGE_MAX_BYTES)
    const dl = decodeDeadLetter(r.record.value ?? Buffer.alloc(0))
    expect(dl.ok).toBe(true)
    if (!dl.ok) return
    expect(dl.value.details).toMatchObject({ payload_bytes: 200_000, limit: KAFKA_MESSAGE_MAX_BYTES })
    expect(deadLetterValue(dl.value)).toEqual(new Uint8Array(payload)) // 200 KB fits whole in base64
    // Above DEAD_LETTER_MAX_BYTES the original is cut: a prefix, its full size and SHA-256.
    const huge = Buffer.alloc(900_000, 0x5c)
    const cut = toRecord({ topic: 't', payload: huge, qos: 1, retain: false, receivedAtMs: 0 }, { ...limitsOf, maxPayloadBytes: 2_000_000 })
    expect(cut.deadLetterReason).toBe('F2_RECORD_TOO_LARGE')
    expect(recordBytes(cut.record)).toBeLessThanOrEqual(KAFKA_MESSAGE_MAX_BYTES)
    const c = decodeDeadLetter(cut.record.value ?? Buffer.alloc(0))
    if (!c.ok) throw new Error('undecodable')
    expect(c.value.details).toMatchObject({ truncated: true, original_bytes: 900_000, original_sha256: createHash('sha256').update(huge).digest('hex') })
    expect(deadLetterValue(c.value).length).toBe(600_000)
  })
})
