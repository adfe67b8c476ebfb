import { createReadStream, readFileSync } from 'node:fs'
import { pipeline as pipe } from 'node:stream/promises'
import { Consumer } from '@platformatic/kafka'
import type postgres from 'postgres'
import { decodeDeadLetter } from '../../src/core/dead-letter.ts'
import { parseTimestamp } from '../../src/core/timestamp.ts'
import { round } from './proc.ts'

/**
 * Accounting of one run: every message the broker acknowledged (the load generator's
 * expected files) must end as its rows in iot_measurements or as a dead letter with the
 * expected reason. Works in the run's private database, after the pipeline drained.
 */
export interface Accounting {
  messagesSent: number
  rowsExpected: number
  rowsFound: number
  /** Messages with all their rows. */
  landed: number
  /** Messages expected as dead letters that are dead letters with the expected reason. */
  deadLettered: number
  /** Messages with neither their rows nor a dead letter. */
  lost: number
  /** Messages with some but not all of their rows, and no dead letter explaining the rest. */
  partial: number
  /** Dead letters for messages that should have become rows, or with another reason. */
  unexpectedDeadLetters: number
  /** Messages dead-lettered more than once (distinct message keys; see deadLetterRedeliveries). */
  duplicateDeadLetters: number
  /** Dead-letter records repeating an earlier one's message_key: one row in dead_letters. */
  deadLetterRedeliveries: number
  /** Rows in the table no sent message accounts for (0 unless something invents data). */
  foreignRows: number
  deadLetterReasons: Record<string, number>
  /** The table's key makes stored duplicates impossible; this checks it (total rows − distinct keys). */
  duplicateRows: number
}

export async function loadExpected (sql: postgres.Sql, files: string[]): Promise<void> {
  await sql`CREATE TABLE IF NOT EXISTS bench_expected (topic text, ts timestamptz, rows int, reason text)`
  await sql`CREATE TABLE IF NOT EXISTS bench_dead (topic text, ts timestamptz, reason text, stage text, message_key text)`
  for (const f of files) {
    const writable = await sql`COPY bench_expected (topic, ts, rows, reason) FROM STDIN`.writable()
    await pipe(createReadStream(f), writable)
  }
  await sql`CREATE INDEX IF NOT EXISTS bench_expected_key ON bench_expected (topic, ts)`
}

export function expectedTotals (files: string[]): { messages: number, rows: number, deadLetters: number } {
  let messages = 0
  let rows = 0
  let deadLetters = 0
  for (const f of files) {
    for (const line of readFileSync(f, 'utf8').split('\n')) {
      if (line === '') continue
      const parts = line.split('\t')
      messages++
      const r = Number(parts[2])
      rows += r
      if (r === 0) deadLetters++
    }
  }
  return { messages, rows, deadLetters }
}

/** The device timestamp of a dead letter's original message (MQTT payload, envelope or measurement). */
function deviceTime (original: unknown): string | null {
  if (typeof original !== 'object' || original === null) return null
  const o = original as { payload?: unknown, timestamp?: unknown, original_topic?: unknown }
  const inner = 'original_topic' in o && typeof o.payload === 'object' && o.payload !== null ? (o.payload as { timestamp?: unknown }).timestamp : o.timestamp
  const t = parseTimestamp(inner, 'UTC')
  return t.ok ? t.value.iso : null
}

/** Reads the whole dead-letter topic (up to its end offsets now) into bench_dead. */
export async function collectDeadLetters (sql: postgres.Sql, brokers: string[], topic: string): Promise<number> {
  const rows: Array<{ topic: string, ts: string | null, reason: string, stage: string, message_key: string | null }> = []
  await readTopic(brokers, topic, value => {
    const dl = decodeDeadLetter(value)
    if (dl.ok) {
      let original: unknown = null
      try { original = JSON.parse(Buffer.from(dl.value.original_value, 'base64').toString('utf8')) } catch { /* not JSON */ }
      rows.push({ topic: dl.value.mqtt_topic ?? '', ts: deviceTime(original), reason: dl.value.reason, stage: dl.value.stage, message_key: dl.value.message_key ?? null })
    } else {
      rows.push({ topic: '', ts: null, reason: 'UNDECODABLE', stage: '', message_key: null })
    }
  })
  for (let i = 0; i < rows.length; i += 5000) {
    const chunk = rows.slice(i, i + 5000)
    // Through text: postgres.js would pass an ISO string as a Date and drop the microseconds.
    await sql`INSERT INTO bench_dead (topic, ts, reason, stage, message_key)
      SELECT topic, ts::timestamptz, reason, stage, message_key FROM json_to_recordset(${JSON.stringify(chunk)}::text::json) AS x (topic text, ts text, reason text, stage text, message_key text)`
  }
  return rows.length
}

/**
 * Records of `topic` (read_committed) beyond which the same message was already seen: the
 * raw topic keyed by MQTT topic + device timestamp, the decoded topic by the table's key.
 */
export async function duplicatesIn (brokers: string[], topic: string, kind: 'raw' | 'decoded'): Promise<{ records: number, duplicates: number }> {
  const seen = new Set<string>()
  let records = 0
  await readTopic(brokers, topic, value => {
    records++
    try {
      const v = JSON.parse(value.toString('utf8')) as Record<string, unknown>
      const key = kind === 'raw'
        ? `${String(v.original_topic)}|${String((v.payload as { timestamp?: unknown } | null)?.timestamp)}`
        : `${String(v.timestamp)}|${String(v.device_id)}|${String(v.connector)}|${String(v.connector_mode)}|${String(v.datapoint_label)}|${String(v.pin_position)}`
      seen.add(key)
    } catch {
      seen.add(`#${records}`)
    }
  })
  return { records, duplicates: records - seen.size }
}

/** Every record of `topic` up to its end offsets now (read_committed), values only. */
export async function readTopic (brokers: string[], topic: string, onValue: (value: Buffer) => void): Promise<void> {
  const consumer = new Consumer({
    clientId: 'f2-bench-dead', bootstrapBrokers: brokers, groupId: `f2-bench-dead-${Date.now()}-${Math.random().toString(16).slice(2)}`,
    autocommit: false, isolationLevel: 1, maxWaitTime: 200, sessionTimeout: 10_000, heartbeatInterval: 1000
  })
  try {
    const ends = (await consumer.listOffsets({ topics: [topic], isolationLevel: 1 })).get(topic) ?? []
    const remaining = new Map<number, bigint>()
    ends.forEach((end, p) => { if (end > 0n) remaining.set(p, end) })
    if (remaining.size > 0) {
      const stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
      // Transaction markers take offsets too, so the last record may sit below the end offset:
      // the read also ends after 3 s without a new record.
      await new Promise<void>((resolve, reject) => {
        let lastAt = Date.now()
        const finish = (): void => { clearTimeout(timer); clearInterval(idle); resolve() }
        const timer = setTimeout(() => { clearInterval(idle); reject(new Error(`${topic} not read to the end within 120 s`)) }, 120_000)
        const idle = setInterval(() => { if (Date.now() - lastAt > 3000) finish() }, 250)
        stream.on('data', m => {
          lastAt = Date.now()
          onValue(m.value as Buffer)
          const end = remaining.get(m.partition)
          if (end !== undefined && m.offset + 1n >= end) remaining.delete(m.partition)
          if (remaining.size === 0) finish()
        })
      })
      await stream.close()
    }
  } finally {
    await consumer.close(true)
  }
}

export async function account (sql: postgres.Sql): Promise<Accounting> {
  await sql`CREATE TABLE IF NOT EXISTS bench_found AS
    SELECT topic, "timestamp" AS ts, count(*)::int AS n, max(ingested_at) AS landed FROM iot_measurements GROUP BY 1, 2`
  const [a] = await sql`
    -- A message dead-lettered twice with one message_key (redelivered after a crash) is one
    -- row in the dead_letters table, as a redelivered reading is one row in iot_measurements.
    WITH dl AS (SELECT topic, ts, count(DISTINCT coalesce(message_key, ctid::text))::int AS n, min(reason) AS reason FROM bench_dead GROUP BY 1, 2)
    SELECT count(*)::int AS messages,
      coalesce(sum(e.rows), 0)::int AS rows_expected,
      count(*) FILTER (WHERE e.rows > 0 AND f.n = e.rows)::int AS landed,
      count(*) FILTER (WHERE e.rows = 0 AND dl.reason = e.reason)::int AS dead_lettered,
      count(*) FILTER (WHERE f.n IS NULL AND dl.n IS NULL)::int AS lost,
      count(*) FILTER (WHERE e.rows > 0 AND f.n < e.rows AND dl.n IS NULL)::int AS partial,
      count(*) FILTER (WHERE dl.n IS NOT NULL AND (e.rows > 0 OR dl.reason <> e.reason))::int AS unexpected_dl,
      count(*) FILTER (WHERE dl.n > 1)::int AS duplicate_dl,
      coalesce(sum(f.n), 0)::int AS rows_matched
    FROM bench_expected e
    LEFT JOIN bench_found f ON f.topic = e.topic AND f.ts = e.ts
    LEFT JOIN dl ON dl.topic = e.topic AND dl.ts = e.ts`
  const [t] = await sql`SELECT count(*)::int AS total FROM iot_measurements`
  const [d] = await sql`SELECT count(*)::int AS n FROM (SELECT DISTINCT "timestamp", device_id, connector, connector_mode, datapoint_label, pin_position FROM iot_measurements) k`
  const reasons = await sql`SELECT reason, count(*)::int AS n FROM bench_dead GROUP BY 1 ORDER BY 2 DESC`
  const [r] = await sql`SELECT (count(message_key) - count(DISTINCT message_key))::int AS n FROM bench_dead`
  if (a === undefined || t === undefined || d === undefined || r === undefined) throw new Error('accounting query returned nothing')
  return {
    messagesSent: a.messages,
    rowsExpected: a.rows_expected,
    rowsFound: t.total,
    landed: a.landed,
    deadLettered: a.dead_lettered,
    lost: a.lost,
    partial: a.partial,
    unexpectedDeadLetters: a.unexpected_dl,
    duplicateDeadLetters: a.duplicate_dl,
    deadLetterRedeliveries: r.n,
    foreignRows: t.total - a.rows_matched,
    deadLetterReasons: Object.fromEntries(reasons.map(r => [r.reason as string, r.n as number])),
    duplicateRows: t.total - d.n
  }
}

export interface SecondPoint { t: number, messages: number, rows: number, p50: number | null, p99: number | null }

export interface Timing {
  /** Seconds (relative to t0) of the measurement window. */
  window: { from: number, to: number }
  messagesPerSecond: number
  rowsPerSecond: number
  latency: { p50: number, p95: number, p99: number, max: number }
  series: SecondPoint[]
}

/**
 * Throughput and device → row latency from the rows themselves: a message lands when its
 * last row is inserted (ingested_at = clock_timestamp() in the bench database); latency is
 * that minus the device timestamp in its payload. The window is [from, to] in seconds after
 * `t0Ms` (landing time for throughput, send time for latency).
 */
export async function timing (sql: postgres.Sql, t0Ms: number, from: number, to: number): Promise<Timing> {
  const t0 = t0Ms / 1000
  const series = await sql`
    SELECT floor(extract(epoch FROM f.landed) - ${t0})::int AS s, count(*)::int AS messages, sum(f.n)::int AS rows,
      percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM f.landed - f.ts)) AS p50,
      percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM f.landed - f.ts)) AS p99
    FROM bench_found f JOIN bench_expected e ON e.topic = f.topic AND e.ts = f.ts
    GROUP BY 1 ORDER BY 1`
  const [w] = await sql`
    SELECT count(*)::int AS messages, coalesce(sum(f.n), 0)::int AS rows
    FROM bench_found f JOIN bench_expected e ON e.topic = f.topic AND e.ts = f.ts
    WHERE extract(epoch FROM f.landed) - ${t0} >= ${from} AND extract(epoch FROM f.landed) - ${t0} < ${to}`
  const [l] = await sql`
    SELECT percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM f.landed - f.ts)) AS p,
      max(extract(epoch FROM f.landed - f.ts)) AS max
    FROM bench_found f JOIN bench_expected e ON e.topic = f.topic AND e.ts = f.ts
    WHERE extract(epoch FROM f.ts) - ${t0} >= ${from} AND extract(epoch FROM f.ts) - ${t0} < ${to}`
  const span = Math.max(0.001, to - from)
  const p = (l?.p as number[] | null) ?? [0, 0, 0]
  return {
    window: { from, to },
    messagesPerSecond: round((w?.messages ?? 0) / span, 1),
    rowsPerSecond: round((w?.rows ?? 0) / span, 1),
    latency: { p50: round(p[0] ?? 0, 4), p95: round(p[1] ?? 0, 4), p99: round(p[2] ?? 0, 4), max: round(Number(l?.max ?? 0), 4) },
    series: series.map(r => ({ t: r.s as number, messages: r.messages as number, rows: r.rows as number, p50: r.p50 === null ? null : round(r.p50 as number, 4), p99: r.p99 === null ? null : round(r.p99 as number, 4) }))
  }
}
