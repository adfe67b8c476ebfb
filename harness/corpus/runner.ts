import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { decodeDeadLetter } from '../../src/core/dead-letter.ts'
import { SERVICES } from '../pipeline.ts'
import { abuseHttp } from '../http-abuse.ts'
import { startCorpusRig } from './rig.ts'

/**
 * The bad-input corpus (items.jsonl, one item per line) through the whole pipeline: a private
 * broker, the connector, processor and sink as real processes, private topics and databases.
 *
 * Item: `{ id, description, topic: string | { base64 }, payload: base64 | payloadFill: { prefix,
 * char, bytes, suffix }, expect: { rows: [{ label, value? , valueText? }], deadLetter?: { reason,
 * stage } } }`. An item passes when exactly its expected rows were stored for its topic and,
 * when a dead letter is expected, exactly one with that reason and stage was written (none
 * otherwise). Items are published in rounds of distinct topics, so every row and dead letter
 * is attributed by its MQTT topic.
 */
export interface ExpectedRow { label: string, value?: number | null, valueText?: string }
export interface CorpusItem {
  id: string
  description: string
  topic: string | { base64: string }
  payload?: string
  payloadFill?: { prefix: string, char: string, bytes: number, suffix: string }
  expect: { rows: ExpectedRow[], deadLetter?: { reason: string, stage: string } }
}

export interface ItemResult {
  id: string
  description: string
  passed: boolean
  expected: CorpusItem['expect']
  rows: Array<{ label: string, value: number | null, valueText: string | null }>
  deadLetters: Array<{ reason: string, stage: string }>
  problem: string | null
}

export interface CorpusReport {
  items: number
  passed: number
  failed: ItemResult[]
  results: ItemResult[]
  /** Every service still ran after the corpus (no crash, no restart) and stopped cleanly. */
  servicesSurvived: boolean
  /** Per service, what its HTTP server did wrong against malformed requests (empty: nothing). */
  http: Record<string, string[]>
  exitCodes: Record<string, number | null>
  seconds: number
}

export const ITEMS_FILE = join(dirname(fileURLToPath(import.meta.url)), 'items.jsonl')

export function loadItems (file = ITEMS_FILE): CorpusItem[] {
  return readFileSync(file, 'utf8').split('\n').filter(l => l.trim() !== '').map(l => JSON.parse(l) as CorpusItem)
}

export function topicOf (item: CorpusItem): string {
  return typeof item.topic === 'string' ? item.topic : Buffer.from(item.topic.base64, 'base64').toString('utf8')
}

export function payloadOf (item: CorpusItem): Buffer {
  if (item.payloadFill !== undefined) {
    const f = item.payloadFill
    // `bytes` is the payload's size: a multi-byte `char` is repeated fewer times.
    const body = f.char.repeat(Math.max(0, Math.floor((f.bytes - Buffer.byteLength(f.prefix) - Buffer.byteLength(f.suffix)) / Buffer.byteLength(f.char))))
    return Buffer.from(`${f.prefix}${body}${f.suffix}`, 'utf8')
  }
  return Buffer.from(item.payload ?? '', 'base64')
}

/** Greedy rounds in which no two items share a topic. */
export function rounds (items: CorpusItem[]): CorpusItem[][] {
  const out: CorpusItem[][] = []
  for (const item of items) {
    const t = topicOf(item)
    const round = out.find(r => !r.some(i => topicOf(i) === t))
    if (round === undefined) out.push([item])
    else round.push(item)
  }
  return out
}

function judge (item: CorpusItem, rows: ItemResult['rows'], dls: ItemResult['deadLetters']): string | null {
  const want = [...item.expect.rows]
  const left = [...rows]
  for (const w of want) {
    const i = left.findIndex(r => r.label === w.label &&
      (w.value === undefined || (w.value === null ? r.value === null : r.value !== null && Math.abs(r.value - w.value) < 1e-9)) &&
      (w.valueText === undefined || r.valueText === w.valueText))
    if (i === -1) return `missing row ${JSON.stringify(w)}`
    left.splice(i, 1)
  }
  if (left.length > 0) return `unexpected rows ${JSON.stringify(left)}`
  const d = item.expect.deadLetter
  if (d === undefined) return dls.length === 0 ? null : `unexpected dead letters ${JSON.stringify(dls)}`
  if (dls.length !== 1) return `expected one dead letter ${d.reason}/${d.stage}, got ${JSON.stringify(dls)}`
  const got = dls[0] as { reason: string, stage: string }
  return got.reason === d.reason && got.stage === d.stage ? null : `expected dead letter ${d.reason}/${d.stage}, got ${got.reason}/${got.stage}`
}

export async function runCorpus (items = loadItems(), log: (s: string) => void = () => {}): Promise<CorpusReport> {
  const started = Date.now()
  // The items carry fixed device times (2024): the processor's window reaches back ten years.
  const { pipeline, publisher, deadLetters: consumer, close } = await startCorpusRig('corpus', {
    connector: { MQTT_SESSION_EXPIRY_S: '0' },
    processor: { TIMESTAMP_MAX_AGE_S: String(10 * 365 * 86400) },
    sink: { SINK_BATCH_WAIT_MS: '100' }
  })
  try {
    await pipeline.setUp()
    await pipeline.startAll()
    const dead: Array<{ topic: string, reason: string, stage: string, seq: number }> = []
    const stream = await consumer.consume({ topics: [pipeline.topics.dead], mode: 'earliest' })
    stream.on('data', m => {
      const d = decodeDeadLetter(m.value as Buffer)
      dead.push(d.ok ? { topic: d.value.mqtt_topic ?? '', reason: d.value.reason, stage: d.value.stage, seq: dead.length } : { topic: '', reason: 'UNDECODABLE', stage: '', seq: dead.length })
    })
    await publisher.waitConnected()
    const results: ItemResult[] = []
    for (const round of rounds(items)) {
      const [t0] = await pipeline.sql`SELECT clock_timestamp() AS t`
      const deadFrom = dead.length
      const topics = round.map(topicOf)
      for (const item of round) await publisher.publish(topicOf(item), payloadOf(item), { qos: 1 })
      const observe = async (): Promise<Map<string, { rows: ItemResult['rows'], dls: ItemResult['deadLetters'] }>> => {
        const rows = await pipeline.sql`SELECT topic, datapoint_label, value, value_text FROM iot_measurements
          WHERE ingested_at >= ${t0?.t as Date} AND topic = ANY(${topics})`
        const by = new Map(topics.map(t => [t, { rows: [] as ItemResult['rows'], dls: [] as ItemResult['deadLetters'] }]))
        for (const r of rows) by.get(r.topic as string)?.rows.push({ label: r.datapoint_label as string, value: r.value as number | null, valueText: r.value_text as string | null })
        for (const d of dead.slice(deadFrom)) by.get(d.topic)?.dls.push({ reason: d.reason, stage: d.stage })
        return by
      }
      const complete = (by: Awaited<ReturnType<typeof observe>>): boolean => round.every(item => {
        const o = by.get(topicOf(item))
        return o !== undefined && o.rows.length >= item.expect.rows.length && o.dls.length >= (item.expect.deadLetter === undefined ? 0 : 1)
      })
      const until = Date.now() + 30_000
      let by = await observe()
      while (!complete(by) && Date.now() < until) { await sleep(200); by = await observe() }
      // Whatever else an item causes arrives in the same batch; a short wait catches it.
      await sleep(1500)
      by = await observe()
      for (const item of round) {
        const o = by.get(topicOf(item)) ?? { rows: [], dls: [] }
        const problem = judge(item, o.rows, o.dls)
        results.push({ id: item.id, description: item.description, passed: problem === null, expected: item.expect, rows: o.rows, deadLetters: o.dls, problem })
        log(`${problem === null ? 'ok  ' : 'FAIL'} ${item.id}${problem === null ? '' : `: ${problem}`}`)
      }
    }
    await stream.close()
    // Malformed HTTP requests and a slow client against every service, after the corpus.
    const http: Record<string, string[]> = {}
    await Promise.all(SERVICES.map(async s => {
      const port = pipeline.services.get(s)?.port
      http[s] = port === undefined ? ['not running'] : await abuseHttp(port, 15_000)
    }))
    const alive = SERVICES.every(s => pipeline.pid(s) !== undefined && pipeline.restarts[s] === 0)
    const exitCodes = await pipeline.stopAll()
    const ordered = items.map(i => results.find(r => r.id === i.id) as ItemResult)
    return {
      items: items.length,
      passed: ordered.filter(r => r.passed).length,
      failed: ordered.filter(r => !r.passed),
      results: ordered,
      servicesSurvived: alive && Object.values(exitCodes).every(c => c === 0),
      http,
      exitCodes,
      seconds: Math.round((Date.now() - started) / 100) / 10
    }
  } finally {
    await close()
  }
}
