import { findRefused, type KafkaRecord } from '../../adapters/kafka.ts'

export interface IsolateOptions<O> {
  /** A batch's outputs, and the message each came from (`origins[i]` for `records[i]`). */
  records: KafkaRecord[]
  origins: O[]
  /**
   * true: `probe` sends inside a transaction it then aborts, so nothing is written yet and
   * the caller writes what this returns. false: `probe` sends for real, so every accepted
   * record is out already and only replacements are left.
   */
  transactions: boolean
  /** Sends `part`; rejects like a produce (isRecordRejection tells a refusal). */
  probe: (part: KafkaRecord[]) => Promise<void>
  /** The dead letter that stands for the message whose output the broker refused. */
  replacement: (origin: O, error: unknown) => KafkaRecord
  /** A replacement the broker refused too: given up. */
  onGivenUp: (record: KafkaRecord, error: unknown) => void
}

/**
 * After Kafka refused a record of a batch: finds the refused records by sending halves
 * (findRefused), replaces each by the dead letter of its message, checks the replacements the
 * same way, and returns what is left to write: with transactions the whole batch with its
 * replacements (nothing was written), without them nothing (the probes wrote it all).
 * Rejects with any error that is not a refusal (the caller recovers as after any failed write).
 */
export async function isolateRefused<O> (o: IsolateOptions<O>): Promise<KafkaRecord[]> {
  const index = new Map(o.records.map((r, i) => [r, i]))
  let records = o.records
  for (let round = 0; round < 2; round++) {
    const refused = await findRefused(records, o.probe)
    const replace = new Map<KafkaRecord, KafkaRecord | null>()
    for (const { record, error } of refused) {
      const origin = o.origins[index.get(record) ?? -1]
      if (round === 0 && origin !== undefined) {
        replace.set(record, o.replacement(origin, error))
      } else {
        replace.set(record, null)
        o.onGivenUp(record, error)
      }
    }
    records = o.transactions
      ? records.flatMap(r => { const to = replace.get(r); return to === undefined ? [r] : to === null ? [] : [to] })
      : [...replace.values()].filter((r): r is KafkaRecord => r !== null)
    if (refused.length === 0 || records.length === 0) break
  }
  return o.transactions ? records : []
}
