import { describe, expect, it } from 'vitest'
import { buildRecord, type KafkaRecord } from '../../../../src/adapters/kafka.ts'
import { decodeEnvelope } from '../../../../src/core/envelope.ts'
import { createForwarder, type Pending } from '../../../../src/stages/connector/forwarder.ts'
import { recordKey, toRecord, topicKind } from '../../../../src/stages/connector/records.ts'

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
})

describe('records', () => {
  const limits = { topic: 'raw', deadLetterTopic: 'dlq', maxPayloadBytes: 10, deadLetterMaxBytes: 4 }
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
})
