import { describe, expect, it } from 'vitest'
import { buildRecord, type KafkaRecord } from '../../../src/adapters/kafka.ts'
import { isolateRefused } from '../../../src/stages/processor/isolate.ts'

const refusal = (): Error => Object.assign(new Error('Producing messages failed.'), { errors: [{ apiId: 'MESSAGE_TOO_LARGE' }] })
const rec = (topic: string, v: string): KafkaRecord => buildRecord(topic, 'k', Buffer.from(v))
const values = (rs: KafkaRecord[]): string[] => rs.map(r => r.value?.toString() ?? '')

describe('isolating refused outputs', () => {
  // Outputs of messages m0..m5; m2's measurement is refused, and so is m4's dead letter (too large).
  const records = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'].map(m => rec('out', m))
  const origins = ['m0', 'm1', 'm2', 'm3', 'm4', 'm5']
  const refused = new Set(['m2', 'm4', 'dl-m4'])
  const probeInto = (sent: string[]) => async (part: KafkaRecord[]): Promise<void> => {
    if (values(part).some(v => refused.has(v))) throw refusal()
    sent.push(...values(part))
  }

  it('with transactions: returns the batch with each refused record replaced, refused replacements given up', async () => {
    const probed: string[] = []
    const givenUp: string[] = []
    const left = await isolateRefused({
      records, origins, transactions: true, probe: probeInto(probed),
      replacement: origin => rec('dead', `dl-${origin}`),
      onGivenUp: r => givenUp.push(r.value?.toString() ?? '')
    })
    expect(values(left)).toEqual(['m0', 'm1', 'dl-m2', 'm3', 'm5'])
    expect(givenUp).toEqual(['dl-m4'])
  })

  it('without transactions: the probes sent everything accepted, replacements included; nothing is left', async () => {
    const sent: string[] = []
    const left = await isolateRefused({
      records, origins, transactions: false, probe: probeInto(sent),
      replacement: origin => rec('dead', `dl-${origin}`),
      onGivenUp: () => {}
    })
    expect(left).toEqual([])
    expect(sent).toEqual(['m0', 'm1', 'm3', 'm5', 'dl-m2'])
  })

  it('passes on any error that is not a refusal', async () => {
    await expect(isolateRefused({
      records, origins, transactions: true, probe: async () => { throw new Error('broker gone') }, replacement: () => rec('d', 'x'), onGivenUp: () => {}
    })).rejects.toThrow('broker gone')
  })
})
