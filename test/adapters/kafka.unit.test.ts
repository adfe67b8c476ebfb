import { describe, expect, it } from 'vitest'
import { buildRecord, findRefused, isRecordRejection, RECORD_OVERHEAD_BYTES, recordBytes } from '../../src/adapters/kafka.ts'

/** The shapes the client rejects with: a protocol error inside nested aggregates, or as a cause. */
const protocolError = (apiId: string): Error => Object.assign(new Error(apiId), { apiId })
const nested = (inner: Error): Error => Object.assign(new Error('Producing messages failed.'), { errors: [Object.assign(new Error('response'), { errors: [inner] })] })

describe('record size and refusals', () => {
  it('counts key, value, headers and framing', () => {
    expect(recordBytes(buildRecord('t', 'key', Buffer.alloc(100), { reason: 'F2_X' }))).toBe(3 + 100 + 6 + 4 + RECORD_OVERHEAD_BYTES)
    expect(recordBytes(buildRecord('t', null, Buffer.alloc(0)))).toBe(RECORD_OVERHEAD_BYTES)
  })

  it.each(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD'])('%s, however nested, is a refusal of the record', id => {
    expect(isRecordRejection(protocolError(id))).toBe(true)
    expect(isRecordRejection(nested(protocolError(id)))).toBe(true)
    expect(isRecordRejection(new Error('wrapped', { cause: nested(protocolError(id)) }))).toBe(true)
  })

  it.each(['NOT_LEADER_OR_FOLLOWER', 'REQUEST_TIMED_OUT', 'NETWORK_EXCEPTION'])('%s is not (it is retried)', id => {
    expect(isRecordRejection(nested(protocolError(id)))).toBe(false)
    expect(isRecordRejection(new Error('connect ECONNREFUSED'))).toBe(false)
    expect(isRecordRejection(undefined)).toBe(false)
  })

  it('finds every refused record by halves, sending the others in order', async () => {
    const records = Array.from({ length: 37 }, (_, i) => i)
    const bad = new Set([3, 4, 20, 36])
    const sent: number[] = []
    let calls = 0
    const refused = await findRefused(records, async part => {
      calls++
      if (part.some(r => bad.has(r))) throw nested(protocolError('MESSAGE_TOO_LARGE'))
      sent.push(...part)
    })
    expect(refused.map(r => r.record)).toEqual([3, 4, 20, 36])
    expect(sent).toEqual(records.filter(r => !bad.has(r)))
    expect(calls).toBeLessThan(40)
    expect(await findRefused([7], async () => { throw protocolError('INVALID_RECORD') })).toMatchObject([{ record: 7 }])
  })

  it('rejects with any other error: the caller retries', async () => {
    await expect(findRefused([1, 2, 3], async () => { throw new Error('broker down') })).rejects.toThrow('broker down')
  })
})
