/**
 * `npm run bench:e2e [-- --rate 5000 --seconds 20]`: end-to-end throughput and latency of
 * processor + sink at one fixed load, on the running stack (`npm run stack -- up`).
 *
 * Runs both stages as real processes on private topics, a private registry database and a
 * private time-series database; publishes `rate` raw records per second for `seconds`
 * (each stamped with its send time as device time), waits until every row is stored, then
 * reports throughput (rows and messages per second, first send → last commit) and latency
 * percentiles (device time → `ingested_at`, i.e. the database commit).
 */
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { migrate } from '../src/storage/migrate.ts'
import { createTempDatabase, createTempTopics, stackEnv, uniqueName } from '../test/helpers/stack.ts'
import { deviceTime, produceAll, rawRecord, spawnCli } from '../test/e2e/support.ts'

const { values } = parseArgs({ options: { rate: { type: 'string', default: '5000' }, seconds: { type: 'string', default: '20' } } })
const rate = Number(values.rate)
const seconds = Number(values.seconds)
const total = rate * seconds

const registry = await createTempDatabase('registry')
const timeseries = await createTempDatabase('timeseries')
const reg = postgres(registry.url, { max: 1, onnotice: () => {} })
await migrate(reg, 'registry')
await reg.end()
const ts = postgres(timeseries.url, { max: 2, onnotice: () => {} })
await migrate(ts, 'timeseries')
const topics = await createTempTopics([uniqueName('bench_raw'), uniqueName('bench_decoded'), uniqueName('bench_dead')], 3)
const [raw, decoded, dead] = topics.names as [string, string, string]

const pg = (prefix: string, url: string): Record<string, string> => {
  const u = new URL(url)
  return { [`${prefix}_HOST`]: u.hostname, [`${prefix}_PORT`]: u.port, [`${prefix}_DB`]: u.pathname.slice(1), [`${prefix}_USER`]: decodeURIComponent(u.username), [`${prefix}_PASSWORD`]: decodeURIComponent(u.password) }
}
const common = { KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap, KAFKA_DEAD_LETTER_TOPIC: dead, HTTP_PORT: '0' }
const processor = spawnCli(['processor'], { ...common, ...pg('POSTGRES', registry.url), KAFKA_INPUT_TOPIC: raw, KAFKA_OUTPUT_TOPIC: decoded, KAFKA_CONSUMER_GROUP: uniqueName('bench_p'), PROCESSOR_INSTANCE_ID: uniqueName('bp') })
const sink = spawnCli(['sink'], { ...common, ...pg('TIMESCALE', timeseries.url), KAFKA_INPUT_TOPIC: decoded, KAFKA_CONSUMER_GROUP: uniqueName('bench_s'), SINK_INSTANCE_ID: uniqueName('bs') })

try {
  await sleep(3000)
  // One message = one Environmental Sensor reading = 3 rows; distinct device times keep keys unique.
  const topicsOf = ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1', 'tele/f2-123456abcdef/sensor-mode/J4/sensor-3']
  let seq = 0
  const started = Date.now()
  for (let s = 0; s < seconds * 10; s++) {
    const tick = started + s * 100
    const wait = tick - Date.now()
    if (wait > 0) await sleep(wait)
    const now = Date.now()
    const batch = Array.from({ length: rate / 10 }, () => {
      const i = seq++
      return rawRecord(raw, topicsOf[i % 2] as string, { timestamp: deviceTime(now + (i % 1000) / 1000), data: '0AEA139201A4', seq: i }, now)
    })
    await produceAll(batch)
  }
  const sent = Date.now()
  const expected = total * 3
  let stored = 0
  while (Date.now() - sent < 120_000) {
    stored = Number((await ts`SELECT count(*)::int AS n FROM iot_measurements`)[0]?.n)
    if (stored >= expected) break
    await sleep(250)
  }
  const [r] = await ts`SELECT
      extract(epoch FROM max(ingested_at) - min("timestamp"))::float8 AS span_s,
      percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - "timestamp")) AS p,
      max(extract(epoch FROM ingested_at - "timestamp"))::float8 AS max_s
    FROM iot_measurements`
  const p = (r?.p as number[]) ?? []
  const span = Number(r?.span_s)
  console.log(JSON.stringify({
    load: { messagesPerSecond: rate, seconds, messages: total, rowsExpected: expected },
    rowsStored: stored,
    throughput: { messagesPerSecond: Math.round(total / span), rowsPerSecond: Math.round(stored / span) },
    latencySeconds: { p50: p[0], p95: p[1], p99: p[2], max: Number(r?.max_s) }
  }, null, 2))
  if (stored < expected) process.exitCode = 1
} finally {
  await processor.kill('SIGTERM')
  await sink.kill('SIGTERM')
  await ts.end()
  await registry.drop()
  await timeseries.drop()
  await topics.delete()
}
