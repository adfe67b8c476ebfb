import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { account, collectDeadLetters, duplicatesIn, expectedTotals, loadExpected, type Accounting } from './account.ts'
import { Pipeline, serviceOf, type ServiceName } from '../../harness/pipeline.ts'
import { round } from './proc.ts'
import { restartInfra, type InfraName } from './stack.ts'

/**
 * The fault suite: one fault per run of a private pipeline under steady load. The load runs
 * `beforeS` seconds, the fault is injected and lasts as long as it lasts, the load goes on
 * `afterS` seconds more, then the pipeline drains and every message is accounted for.
 */
export type FaultName =
  | 'kill-connector' | 'kill-processor' | 'kill-sink'
  | 'pause-sink' | 'scale-out' | 'restart-kafka' | 'restart-postgres' | 'restart-broker' | 'kill-broker'

export const ALL_FAULTS: readonly FaultName[] = ['kill-connector', 'kill-processor', 'kill-sink', 'pause-sink', 'scale-out', 'restart-kafka', 'restart-postgres', 'restart-broker', 'kill-broker']
/** Faults that touch only the run's own processes: safe beside other tests on the shared stack. */
export const PRIVATE_FAULTS: readonly FaultName[] = ['kill-connector', 'kill-processor', 'kill-sink', 'pause-sink', 'scale-out']
/** Faults run on a scaled-out pipeline: two connectors, two processors, two sinks. */
const REPLICAS: Partial<Record<FaultName, number>> = { 'scale-out': 2 }

export interface FaultOptions {
  rate: number
  devices: number
  beforeS: number
  afterS: number
  pauseS: number
  unknownFraction: number
  /** Most time allowed for the backlog to land after the load stops. */
  drainTimeoutS: number
  log?: (s: string) => void
}

export interface FaultResult {
  fault: FaultName
  description: string
  sent: number
  landed: number
  deadLettered: number
  lost: number
  partial: number
  duplicatedRows: number
  duplicateDeadLetters: number
  unexpectedDeadLetters: number
  /** Records carried twice through Kafka (absorbed downstream): raw topic, decoded topic, dead letters. */
  redelivered: { raw: number, decoded: number, deadLetters: number }
  faultAtS: number
  faultSeconds: number
  /** From the injection until every later message lands within `latencyBoundS` again. */
  recoverySeconds: number
  latencyBoundS: number
  baselineP99S: number
  maxLatencyS: number
  restarts: Record<ServiceName, number>
  /** Messages (connector) or records (processor, sink) each instance had handled when the fault hit. */
  workBeforeFault: Record<string, number>
  /** Records each stage had not committed when the drain ended (per partition; transaction markers count 1). */
  lagLeft: { processor: number[], sink: number[] }
  /** The sink's last warnings and errors (for a failed fault). */
  sinkLog: string[]
  passed: boolean
  accounting: Accounting
}

const DESCRIPTIONS: Record<FaultName, string> = {
  'kill-connector': 'SIGKILL of the connector, restarted after 1 s',
  'kill-processor': 'SIGKILL of the processor, restarted after 1 s',
  'kill-sink': 'SIGKILL of the sink, restarted after 1 s',
  'pause-sink': 'sink frozen (SIGSTOP) then resumed (SIGCONT): a backlog builds in Kafka',
  'restart-kafka': 'Kafka broker stopped (SIGTERM, controlled shutdown) and started again by the stack',
  'restart-postgres': 'time-series PostgreSQL fast shutdown (SIGINT) and started again by the stack',
  'scale-out': 'two connectors (shared subscription), two processors, two sinks (consumer groups); one of each SIGKILLed at once, restarted after 1 s',
  'restart-broker': 'Mosquitto stopped (SIGTERM, saves persistent sessions) and started again by the stack',
  'kill-broker': 'Mosquitto SIGKILLed (nothing saved on the way out: only what it persisted before) and started again by the stack'
}

async function inject (fault: FaultName, p: Pipeline, pauseS: number): Promise<void> {
  const infra: Partial<Record<FaultName, InfraName>> = { 'restart-kafka': 'kafka', 'restart-postgres': 'postgres-timeseries', 'restart-broker': 'mosquitto' }
  switch (fault) {
    case 'kill-connector': return await p.crash('connector')
    case 'kill-processor': return await p.crash('processor')
    case 'kill-sink': return await p.crash('sink')
    case 'scale-out':
      // The survivors carry the load meanwhile; the killed copies come back as the supervisor would bring them.
      await Promise.all([p.crash('connector-2'), p.crash('processor-2'), p.crash('sink-2')])
      return
    case 'kill-broker':
      await restartInfra('mosquitto', 180_000, 'SIGKILL')
      return
    case 'pause-sink':
      p.signal('sink', 'SIGSTOP')
      await sleep(pauseS * 1000)
      p.signal('sink', 'SIGCONT')
      return
    default: {
      const name = infra[fault]
      if (name === undefined) throw new Error(`unknown fault ${fault}`)
      await restartInfra(name)
    }
  }
}

const WORK_METRIC: Record<ServiceName, string> = {
  connector: 'f2_connector_messages_forwarded_total',
  processor: 'f2_processor_records_consumed_total',
  sink: 'f2_sink_records_consumed_total',
  fleet: 'f2_fleet_records_consumed_total'
}

/** What each running instance has handled so far (shows that every replica carries load). */
async function instanceWork (p: Pipeline): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const name of p.instances()) out[name] = Pipeline.sum(await p.metrics(name), WORK_METRIC[serviceOf(name)])
  return out
}

export async function runFault (fault: FaultName, o: FaultOptions): Promise<FaultResult> {
  const log = o.log ?? (() => {})
  const work = mkdtempSync(join(tmpdir(), `f2-fault-${fault}-`))
  const p = new Pipeline({ devices: o.devices, seed: 5, logDir: join(work, 'logs'), replicas: REPLICAS[fault] ?? 1 }, 'fault')
  try {
    await p.setUp()
    await p.startAll()
    const expectedFile = join(work, 'expected.tsv')
    const t0 = Date.now()
    const load = p.load({ rate: o.rate, durationS: 0, count: 0, windowPerConnection: 20, mix: 'sim', unknownFraction: o.unknownFraction, expectedFile, clientPrefix: `${p.id}-load` })
    await sleep(o.beforeS * 1000)
    const workBeforeFault = await instanceWork(p)
    const faultAt = (Date.now() - t0) / 1000
    log(`${fault}: injecting at t=${faultAt.toFixed(1)} s`)
    await inject(fault, p, o.pauseS)
    const faultSeconds = (Date.now() - t0) / 1000 - faultAt
    log(`${fault}: fault over after ${faultSeconds.toFixed(1)} s`)
    await sleep(o.afterS * 1000)
    load.child.send({ stop: true })
    await load.done
    const totals = expectedTotals([expectedFile])
    const until = Date.now() + o.drainTimeoutS * 1000
    for (;;) {
      const [c] = await p.sql`SELECT count(*)::int AS n FROM iot_measurements`.catch(() => [{ n: -1 }])
      if ((c?.n ?? 0) >= totals.rows || Date.now() > until) break
      await sleep(500)
    }
    await sleep(3000)
    // Uncommitted records left per partition (after a drain, a stage that stopped reading shows here).
    const lagLeft = { processor: await p.lag('processor').catch(() => []), sink: await p.lag('sink').catch(() => []) }
    const sinkLog = p.logTail('sink', 400).split('\n').filter(l => !l.includes('"level":30')).slice(-5).map(l => l.slice(0, 300))
    await p.stopAll()
    await loadExpected(p.sql, [expectedFile])
    await collectDeadLetters(p.sql, p.urls.kafka.split(','), p.topics.dead)
    const acc = await account(p.sql)
    const raw = await duplicatesIn(p.urls.kafka.split(','), p.topics.raw, 'raw')
    const decoded = await duplicatesIn(p.urls.kafka.split(','), p.topics.decoded, 'decoded')
    const t0s = t0 / 1000
    const [base] = await p.sql`SELECT percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM f.landed - f.ts)) AS p99
      FROM bench_found f JOIN bench_expected e USING (topic, ts)
      WHERE extract(epoch FROM f.ts) - ${t0s} >= 2 AND extract(epoch FROM f.landed) - ${t0s} < ${faultAt}`
    const baselineP99 = Number(base?.p99 ?? 0)
    const bound = Math.max(2, 3 * baselineP99)
    const [rec] = await p.sql`SELECT max(extract(epoch FROM f.landed) - ${t0s}) AS last_slow, max(extract(epoch FROM f.landed - f.ts)) AS max_latency
      FROM bench_found f JOIN bench_expected e USING (topic, ts)
      WHERE extract(epoch FROM f.ts) - ${t0s} >= ${faultAt - 5} AND extract(epoch FROM f.landed - f.ts) > ${bound}`
    const [mx] = await p.sql`SELECT max(extract(epoch FROM f.landed - f.ts)) AS m FROM bench_found f JOIN bench_expected e USING (topic, ts)`
    const lastSlow = rec?.last_slow === null || rec?.last_slow === undefined ? null : Number(rec.last_slow)
    const result: FaultResult = {
      fault,
      description: DESCRIPTIONS[fault],
      sent: acc.messagesSent,
      landed: acc.landed,
      deadLettered: acc.deadLettered,
      lost: acc.lost,
      partial: acc.partial,
      duplicatedRows: acc.duplicateRows,
      duplicateDeadLetters: acc.duplicateDeadLetters,
      unexpectedDeadLetters: acc.unexpectedDeadLetters,
      redelivered: { raw: raw.duplicates, decoded: decoded.duplicates, deadLetters: acc.deadLetterRedeliveries },
      faultAtS: round(faultAt, 1),
      faultSeconds: round(faultSeconds, 1),
      recoverySeconds: lastSlow === null ? 0 : round(Math.max(0, lastSlow - faultAt), 1),
      latencyBoundS: round(bound, 2),
      baselineP99S: round(baselineP99, 3),
      maxLatencyS: round(Number(mx?.m ?? 0), 2),
      restarts: { ...p.restarts },
      workBeforeFault,
      lagLeft,
      sinkLog,
      passed: acc.lost === 0 && acc.partial === 0 && acc.duplicateRows === 0 && acc.duplicateDeadLetters === 0 && acc.unexpectedDeadLetters === 0 && acc.landed + acc.deadLettered === acc.messagesSent,
      accounting: acc
    }
    log(`${fault}: ${JSON.stringify({ sent: result.sent, landed: result.landed, dead: result.deadLettered, lost: result.lost, dup: result.duplicatedRows, redelivered: result.redelivered, recovery: result.recoverySeconds, lagLeft, passed: result.passed })}`)
    return result
  } catch (err) {
    log(`${fault}: failed: ${(err as Error).message}\n${p.instances().map(s => `--- ${s}\n${p.logTail(s, 5).slice(-1500)}`).join('\n')}`)
    throw err
  } finally {
    await p.tearDown()
  }
}
