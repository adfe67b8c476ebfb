/**
 * `npm run bench:e2e [-- --rate 5000 --seconds 20]`: end-to-end throughput and latency of
 * processor + sink at one fixed load, on the running stack (`npm run stack -- up`).
 *
 * Runs both stages as real processes on private topics, a private registry database and a
 * private time-series database; publishes `rate` raw records per second for `seconds`
 * (each stamped with its send time as device time), waits until every row is stored, then
 * reports throughput (rows and messages per second, first send → last commit), latency
 * percentiles (device time → `ingested_at`, i.e. the database commit), and per stage the
 * peak RSS and the CPU seconds spent (CPU per 1000 messages is far less sensitive to a
 * noisy machine than throughput).
 *
 * Options: `--profile <dir>` writes V8 CPU profiles of both stages there (`--cpu-prof`);
 * `--node-options "<flags>"` adds Node flags to both stages (e.g. `--max-semi-space-size=8`);
 * `--env-processor K=V,K=V` / `--env-sink K=V,…` pass tuning knobs to one stage.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { createProducer } from '../src/adapters/kafka.ts'
import { migrate } from '../src/storage/migrate.ts'
import { createTempDatabase, createTempTopics, stackEnv, uniqueName } from '../harness/stack.ts'
import { deviceTime, groupLag, rawRecord, spawnCli, type ChildService } from '../harness/e2e-support.ts'
import { freePort } from '../src/stack/ports.ts'

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '20' },
    profile: { type: 'string' },
    'node-options': { type: 'string', default: '' },
    'env-processor': { type: 'string', default: '' },
    'env-sink': { type: 'string', default: '' }
  }
})
const rate = Number(values.rate)
const seconds = Number(values.seconds)
const total = rate * seconds

const envList = (s: string): Record<string, string> => Object.fromEntries(s.split(',').filter(Boolean).map(kv => {
  const i = kv.indexOf('=')
  return [kv.slice(0, i), kv.slice(i + 1)]
}))

/** Resident set size and CPU seconds (user + system) of a live process, from /proc. */
function procStats (pid: number | undefined): { rssMb: number, cpuS: number } {
  if (pid === undefined) return { rssMb: 0, cpuS: 0 }
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const ticks = Number(fields[11]) + Number(fields[12])
    return { rssMb: rssKb / 1024, cpuS: ticks / 100 }
  } catch {
    return { rssMb: 0, cpuS: 0 }
  }
}


/** Heap and off-heap memory of a stage, from its /metrics (prom-client's default metrics), in MB. */
async function memoryOf (port: number): Promise<Record<string, number>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    const pick = (name: string): number => Math.round(Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? 0) / 1048576)
    return { heapUsed: pick('nodejs_heap_size_used_bytes'), heapTotal: pick('nodejs_heap_size_total_bytes'), external: pick('nodejs_external_memory_bytes') }
  } catch {
    return {}
  }
}

/** CPU seconds of every process whose command line contains all of `needles` (Kafka, PostgreSQL backends). */
function cpuOf (...needles: string[]): number {
  let total = 0
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ')
      if (needles.every(n => cmd.includes(n))) total += procStats(Number(entry)).cpuS
    } catch { /* gone */ }
  }
  return total
}

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
const nodeOptions = [values['node-options'], values.profile === undefined ? '' : `--cpu-prof --cpu-prof-dir=${resolve(values.profile)}`].filter(Boolean).join(' ')
const profile: Record<string, string> = nodeOptions === '' ? {} : { NODE_OPTIONS: nodeOptions }
const common = { KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap, KAFKA_DEAD_LETTER_TOPIC: dead, ...profile }
const ports = { processor: await freePort(), sink: await freePort() }
const groups = { processor: uniqueName('bench_p'), sink: uniqueName('bench_s') }
const processor = spawnCli(['processor'], { ...common, ...pg('POSTGRES', registry.url), KAFKA_INPUT_TOPIC: raw, KAFKA_OUTPUT_TOPIC: decoded, KAFKA_CONSUMER_GROUP: groups.processor, HTTP_PORT: String(ports.processor), PROCESSOR_INSTANCE_ID: uniqueName('bp'), ...envList(values['env-processor']) })
const sink = spawnCli(['sink'], { ...common, ...pg('TIMESCALE', timeseries.url), KAFKA_INPUT_TOPIC: decoded, KAFKA_CONSUMER_GROUP: groups.sink, HTTP_PORT: String(ports.sink), SINK_INSTANCE_ID: uniqueName('bs'), ...envList(values['env-sink']) })
const producer = createProducer({ clientId: 'f2-bench-load', bootstrapBrokers: stackEnv().kafkaBootstrap.split(','), retries: 5 })

const peakRss = { processor: 0, sink: 0 }
const sample = (): Record<'processor' | 'sink', { rssMb: number, cpuS: number }> => {
  const out = { processor: procStats(processor.child.pid), sink: procStats(sink.child.pid) }
  peakRss.processor = Math.max(peakRss.processor, out.processor.rssMb)
  peakRss.sink = Math.max(peakRss.sink, out.sink.rssMb)
  return out
}
const sampler = setInterval(sample, 500)

try {
  await sleep(3000)
  const cpu0 = sample()
  const tsDb = new URL(timeseries.url).pathname.slice(1)
  const infra0 = { kafka: cpuOf('kafka.Kafka', '/work/main/'), timeseries: cpuOf(`postgres: ts_user ${tsDb} `) }
  // One message = one Environmental Sensor reading = 3 rows; device times a microsecond apart
  // within a tick (ticks are 100 ms apart) keep every key unique.
  const topicsOf = ['tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1', 'tele/f2-123456abcdef/sensor-mode/J4/sensor-3']
  let seq = 0
  const started = Date.now()
  for (let s = 0; s < seconds * 10; s++) {
    const tick = started + s * 100
    const wait = tick - Date.now()
    if (wait > 0) await sleep(wait)
    const now = Date.now()
    const perTick = rate / 10
    const batch = Array.from({ length: perTick }, () => {
      const i = seq++
      return rawRecord(raw, topicsOf[i % 2] as string, { timestamp: deviceTime(now + (i % perTick) / 1000), data: '0AEA139201A4', seq: i }, now)
    })
    for (let i = 0; i < batch.length; i += 2000) await producer.send({ messages: batch.slice(i, i + 2000) })
  }
  const sent = Date.now()
  const memoryAtEndOfLoad = { processor: await memoryOf(ports.processor), sink: await memoryOf(ports.sink) }
  // Where the backlog sits when the load stops: records not yet committed by each stage.
  const lagAtEndOfLoad = { processor: Number(await groupLag(groups.processor, raw)), sink: Number(await groupLag(groups.sink, decoded)) }
  const expected = total * 3
  let stored = 0
  while (Date.now() - sent < 120_000) {
    stored = Number((await ts`SELECT count(*)::int AS n FROM iot_measurements`)[0]?.n)
    if (stored >= expected) break
    await sleep(250)
  }
  const cpu1 = sample()
  const infra1 = { kafka: cpuOf('kafka.Kafka', '/work/main/'), timeseries: cpuOf(`postgres: ts_user ${tsDb} `) }
  const [r] = await ts`SELECT
      extract(epoch FROM max(ingested_at) - min("timestamp"))::float8 AS span_s,
      percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM ingested_at - "timestamp")) AS p,
      max(extract(epoch FROM ingested_at - "timestamp"))::float8 AS max_s,
      count(DISTINCT ("timestamp", device_id, connector, connector_mode, datapoint_label, pin_position))::int AS distinct_keys
    FROM iot_measurements`
  const p = (r?.p as number[]) ?? []
  const span = Number(r?.span_s)
  const cpuPerK = (name: 'processor' | 'sink'): number => Math.round((cpu1[name].cpuS - cpu0[name].cpuS) / total * 1000 * 1000) / 1000
  console.log(JSON.stringify({
    load: { messagesPerSecond: rate, seconds, messages: total, rowsExpected: expected },
    rowsStored: stored,
    distinctRows: Number(r?.distinct_keys),
    throughput: { messagesPerSecond: Math.round(total / span), rowsPerSecond: Math.round(stored / span) },
    latencySeconds: { p50: p[0], p95: p[1], p99: p[2], max: Number(r?.max_s) },
    lagAtEndOfLoad,
    memoryAtEndOfLoadMb: memoryAtEndOfLoad,
    peakRssMb: { processor: Math.round(peakRss.processor), sink: Math.round(peakRss.sink) },
    cpuSecondsPer1000Messages: {
      processor: cpuPerK('processor'),
      sink: cpuPerK('sink'),
      // Kafka serves the whole stack (other clients included); the time-series backends are this run's own.
      kafka: Math.round((infra1.kafka - infra0.kafka) / total * 1000 * 1000) / 1000,
      timeseriesDb: Math.round((infra1.timeseries - infra0.timeseries) / total * 1000 * 1000) / 1000
    }
  }, null, 2))
  if (process.env.DUMP_OUTPUT !== undefined) console.error(processor.output())
  if (stored !== expected) {
    process.exitCode = 1
    console.error(`lag: processor ${await groupLag(groups.processor, raw)}, sink ${await groupLag(groups.sink, decoded)}`)
    console.error(`processor output:\n${processor.output().slice(-4000)}\nsink output:\n${sink.output().slice(-4000)}`)
  }
} finally {
  clearInterval(sampler)
  await producer.close().catch(() => {})
  const stop = async (c: ChildService): Promise<void> => { await c.kill('SIGTERM') }
  await Promise.all([stop(processor), stop(sink)])
  await ts.end()
  await registry.drop()
  await timeseries.drop()
  await topics.delete()
}
