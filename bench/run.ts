/**
 * End-to-end benchmark of the pipeline on this machine.
 *
 *   npm run bench -- [--devices 100] [--rate 2000|max] [--duration 60] [--mix sim|sensor|events]
 *                    [--unknown 0.01] [--transport tls|plain] [--window 20] [--warmup 10]
 *                    [--label NAME] [--out results/bench] [--env sink.BATCH_SIZE=5000 ...]
 *                    [--cpu-prof] [--keep] [--fleet-state on|off]
 *                    [--ceiling measure|reuse] [--ceiling-seconds 10]
 *
 * Runs a private copy of the pipeline (connector, processor, sink as child processes; own
 * topics, consumer groups and databases) on the shared stack (started if needed), drives it
 * with the simulator's device model (harness/load-worker.ts), samples every process's CPU and
 * RSS each second, then accounts for every message and measures throughput and device → row
 * latency from the rows. `--fleet-state on` also runs the fleet stage (its cost is the
 * ratio of two runs, on and off, taken one after the other).
 *
 * Throughput is stated as a ratio of two ceilings measured in the same sitting, right before
 * the run (`bench/ceiling.ts --only copy`): PostgreSQL's raw COPY and the sink's write path.
 * Absolute rates differ threefold between machines of one kind; the ratio holds.
 * `--ceiling reuse` takes results/ceiling.json instead, if it is under an hour old.
 *
 * Writes <out>/<label>.json, .md and .svg (the label defaults to the kind of run, so each kind
 * keeps its latest report) and appends one line to the history beside <out> (results/history.tsv); the JSON summary is
 * the last line printed.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { account, collectDeadLetters, expectedTotals, loadExpected, timing } from './lib/account.ts'
import { ensureStack } from './lib/ensure-stack.ts'
import { machineInfo, machineLine } from './lib/machine.ts'
import { Pipeline, SERVICES as CORE_SERVICES, type ServiceName } from '../harness/pipeline.ts'
import { round, Sampler } from './lib/proc.ts'
import { appendHistory, cpuPerMessage, cpuTotals, sittingCeiling } from './lib/sitting.ts'
import { table, throughputSvg, writeFile } from './lib/report.ts'
import { infraPid, ROOT } from './lib/stack.ts'
import type { LoadProgress, Mix } from '../harness/load-worker.ts'

const { values: a } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    rate: { type: 'string', default: '2000' },
    duration: { type: 'string', default: '60' },
    mix: { type: 'string', default: 'sim' },
    unknown: { type: 'string', default: '0.01' },
    transport: { type: 'string', default: 'tls' },
    window: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '10' },
    seed: { type: 'string', default: '7' },
    label: { type: 'string' },
    out: { type: 'string', default: 'results/bench' },
    env: { type: 'string', multiple: true, default: [] },
    'node-flag': { type: 'string', multiple: true, default: [] },
    dist: { type: 'boolean', default: false },
    backlog: { type: 'string', default: '30000' },
    'cpu-prof': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    'fleet-state': { type: 'string', default: 'off' },
    ceiling: { type: 'string', default: 'measure' },
    'ceiling-seconds': { type: 'string', default: '10' }
  }
})
if (a.ceiling !== 'measure' && a.ceiling !== 'reuse') throw new Error(`--ceiling ${a.ceiling}: expected measure or reuse`)
if (a['fleet-state'] !== 'on' && a['fleet-state'] !== 'off') throw new Error(`--fleet-state ${a['fleet-state']}: expected on or off`)
const fleetState = a['fleet-state'] === 'on'

const max = a.rate === 'max'
const rate = max ? 0 : Number(a.rate)
const duration = Number(a.duration)
const warmup = Math.min(Number(a.warmup), duration / 3)
const label = a.label ?? `${max ? 'max' : `rate${rate}`}${a.mix === 'sim' ? '' : `-${a.mix}`}${fleetState ? '-fleet' : ''}`
const outDir = resolve(ROOT, a.out as string)
const outBase = join(outDir, label)
// results/bench/<label> → results/history.tsv: one history beside the reports' folder.
const historyFile = join(dirname(outDir), 'history.tsv')
const log = (s: string): void => { if (a.quiet !== true) process.stderr.write(`[bench] ${s}\n`) }

const serviceEnv: Partial<Record<ServiceName, Record<string, string>>> = {}
for (const kv of a.env as string[]) {
  const m = /^(connector|processor|sink|fleet)\.([A-Z0-9_]+)=(.*)$/.exec(kv)
  if (m === null) throw new Error(`--env ${kv}: expected <service>.<NAME>=<value>`)
  const svc = m[1] as ServiceName
  serviceEnv[svc] = { ...serviceEnv[svc], [m[2] as string]: m[3] as string }
}

const nodeFlags: Partial<Record<ServiceName, string[]>> = {}
for (const kv of a['node-flag'] as string[]) {
  const m = /^(connector|processor|sink|fleet)\.(--.+)$/.exec(kv)
  if (m === null) throw new Error(`--node-flag ${kv}: expected <service>.--<flag>`)
  const svc = m[1] as ServiceName
  nodeFlags[svc] = [...(nodeFlags[svc] ?? []), m[2] as string]
}

ensureStack()
if (a.dist === true) {
  // The image's build steps (Dockerfile), so the services run what the image runs.
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' })
  execFileSync(process.execPath, [join(ROOT, 'deploy', 'copy-assets.mjs'), 'src', 'dist'], { cwd: ROOT, stdio: 'inherit' })
}
const machine = await machineInfo()
const work = mkdtempSync(join(tmpdir(), 'f2-bench-'))
const ceiling = sittingCeiling(a.ceiling as 'measure' | 'reuse', Number(a['ceiling-seconds']), work, log)
const profDir = join(work, 'profiles')
if (a['cpu-prof'] === true) {
  for (const s of [...CORE_SERVICES, ...(fleetState ? ['fleet' as const] : [])]) nodeFlags[s] = [...(nodeFlags[s] ?? []), '--cpu-prof', `--cpu-prof-dir=${profDir}`, `--cpu-prof-name=${s}-\${pid}.cpuprofile`]
}
const pipeline = new Pipeline({
  devices: Number(a.devices),
  seed: Number(a.seed),
  env: serviceEnv,
  logDir: join(work, 'logs'),
  nodeFlags,
  dist: a.dist === true,
  transport: a.transport === 'plain' ? 'plain' : 'tls',
  fleetState
})
const SERVICES = pipeline.serviceNames
log(`run ${pipeline.id}; logs in ${work}`)

try {
  await pipeline.setUp()
  await pipeline.startAll()
  log('services ready')
  const t0 = Date.now()
  const sampler = new Sampler(t0)
  for (const s of SERVICES) sampler.add(s, () => { const p = pipeline.pid(s); return p === undefined ? [] : [p] })
  const loadPid: { pid?: number | undefined } = {}
  sampler.add('load-generator', () => loadPid.pid === undefined ? [] : [loadPid.pid])
  sampler.add('kafka', () => { const p = infraPid('kafka'); return p === undefined ? [] : [p] })
  sampler.add('mosquitto', () => { const p = infraPid('mosquitto'); return p === undefined ? [] : [p] })
  sampler.add('postgres-timeseries', () => { const p = infraPid('postgres-timeseries'); return p === undefined ? [] : [p] }, true)
  sampler.add('postgres-registry', () => { const p = infraPid('postgres-registry'); return p === undefined ? [] : [p] }, true)
  sampler.start(1000)

  const expectedFile = join(work, 'expected-0.tsv')
  let last: LoadProgress | undefined
  // When publishing began: a large fleet spends its first minutes connecting (10 000 TLS
  // handshakes), and the measurement window counts from here, not from the load's start.
  let sendStart: number | undefined
  const load = pipeline.load({
    rate, durationS: duration, count: 0, windowPerConnection: Number(a.window),
    mix: a.mix as Mix, unknownFraction: Number(a.unknown), expectedFile, clientPrefix: `${pipeline.id}-load`
  }, p => {
    last = p
    if (sendStart === undefined && p.sent > 0) sendStart = (Date.now() - t0) / 1000
  })
  loadPid.pid = load.child.pid
  // Max mode is closed-loop: the broker holds at most `backlog` messages for the connector
  // (Mosquitto drops beyond max_queued_messages), so the rate found is the pipeline's, not the publisher's.
  let creditTimer: NodeJS.Timeout | undefined
  if (max) {
    const backlog = Number(a.backlog)
    load.child.send({ credit: backlog })
    creditTimer = setInterval(() => {
      void pipeline.metrics('connector').then(m => {
        const forwarded = Pipeline.sum(m, 'f2_connector_messages_forwarded_total') + Pipeline.sum(m, 'f2_connector_dead_letters_total')
        if (load.child.connected) load.child.send({ credit: forwarded + backlog })
      })
    }, 250)
  }
  const progress = setInterval(() => { if (last !== undefined) log(`t=${Math.round((Date.now() - t0) / 1000)}s sent ${last.sent} acked ${last.acked}`) }, 10_000)
  const loadResult = await load.done
  clearInterval(creditTimer)
  clearInterval(progress)
  const sendEnd = (Date.now() - t0) / 1000
  log(`load done: ${loadResult.acked} acknowledged in ${loadResult.seconds} s (${Math.round(loadResult.acked / loadResult.seconds)}/s)`)

  // Drain: until every expected row (and dead letter) is accounted for, or no progress for 30 s.
  const totals = expectedTotals([expectedFile])
  let lastSeen = -1
  let stalledSince = Date.now()
  for (;;) {
    const sink = await pipeline.metrics('sink')
    const proc = await pipeline.metrics('processor')
    const seen = Pipeline.sum(sink, 'f2_sink_rows_written_total') + Pipeline.sum(sink, 'f2_sink_rows_duplicate_total') + Pipeline.sum(proc, 'f2_processor_dead_letters_total')
    if (seen >= totals.rows + totals.deadLetters) break
    if (seen !== lastSeen) { lastSeen = seen; stalledSince = Date.now() }
    if (Date.now() - stalledSince > 30_000) { log(`drain stalled at ${seen} of ${totals.rows + totals.deadLetters}`); break }
    await sleep(500)
  }
  const drainedAt = (Date.now() - t0) / 1000
  await sleep(1000)
  // The fleet stage's per-controller series (f2_device_*) would be 10 000 lines of a report: counted, not kept.
  const finalMetrics = Object.fromEntries(await Promise.all(SERVICES.map(async s => [s, withoutPerDevice(await pipeline.metrics(s))] as const)))
  const procs = sampler.stop()
  const exitCodes = await pipeline.stopAll()
  log(`drained at t=${drainedAt.toFixed(1)} s; accounting`)

  await loadExpected(pipeline.sql, [expectedFile])
  await collectDeadLetters(pipeline.sql, pipeline.urls.kafka.split(','), pipeline.topics.dead)
  const acc = await account(pipeline.sql)
  const from = (sendStart ?? 0) + warmup
  const to = Math.max(from + 1, Math.min(sendEnd, (sendStart ?? 0) + duration))
  const tm = await timing(pipeline.sql, t0, from, to)

 const svc = (name: string): { cpuCoresAvg: number, peakRssMb: number, peakAnonMb: number } | undefined => procs.find(p => p.name === name)
  const summary = {
    label,
    mode: max ? 'max' : 'rate',
    targetRate: max ? null : rate,
    devices: Number(a.devices),
    mix: a.mix,
    durationS: duration,
    sent: acc.messagesSent,
    publishRate: round(loadResult.acked / loadResult.seconds, 1),
    messagesPerSecond: tm.messagesPerSecond,
    rowsPerSecond: tm.rowsPerSecond,
    latencySeconds: tm.latency,
    lost: acc.lost + acc.partial,
    duplicateRows: acc.duplicateRows,
    duplicateDeadLetters: acc.duplicateDeadLetters,
    redeliveriesAbsorbed: Pipeline.sum(new Map(Object.entries(finalMetrics.sink ?? {})), 'f2_sink_rows_duplicate_total'),
    deadLettered: acc.deadLettered,
    unexpectedDeadLetters: acc.unexpectedDeadLetters,
    foreignRows: acc.foreignRows,
    peakRssMb: Object.fromEntries(SERVICES.map(s => [s, svc(s)?.peakRssMb ?? null])),
    peakAnonMb: Object.fromEntries(SERVICES.map(s => [s, svc(s)?.peakAnonMb ?? null])),
    cpuCores: Object.fromEntries([...SERVICES, 'load-generator', 'kafka', 'mosquitto', 'postgres-timeseries'].map(s => [s, svc(s)?.cpuCoresAvg ?? null])),
    machineBusyPct: round(sampler.machine.slice(1).reduce((s, p) => s + p.busyPct, 0) / Math.max(1, sampler.machine.length - 1), 1),
    /** The sustained rate over the raw COPY ceiling of this sitting. */
    ceilingRatio: round(tm.messagesPerSecond / ceiling.copyMessagesPerSecond, 3),
    ceilingSlowest: 'PostgreSQL COPY',
    ceilings: ceiling,
    ratios: {
      copy: round(tm.messagesPerSecond / ceiling.copyMessagesPerSecond, 3),
      sinkWritePath: round(tm.messagesPerSecond / ceiling.sinkWriteMessagesPerSecond, 3)
    },
    /** µs of CPU each process spent per message landed, over the measurement window. */
    cpuMicrosPerMessage: cpuPerMessage(procs, tm.window, tm.messagesPerSecond),
    cpuMicrosPerMessageTotal: cpuTotals(cpuPerMessage(procs, tm.window, tm.messagesPerSecond), SERVICES),
    passed: acc.lost === 0 && acc.partial === 0 && acc.duplicateRows === 0 && acc.duplicateDeadLetters === 0 && acc.unexpectedDeadLetters === 0
  }
  const report = {
    summary,
    machine,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    options: a,
    runId: pipeline.id,
    load: loadResult,
    accounting: acc,
    timing: tm,
    drainedAtSeconds: round(drainedAt, 1),
    serviceExitCodes: exitCodes,
    processes: procs,
    machineCpu: sampler.machine,
    serviceMetrics: finalMetrics,
    serviceEnv,
    serviceNodeFlags: nodeFlags,
    serviceEntry: a.dist === true ? 'dist/cli.js' : 'src/cli.ts',
    latencyMethod: 'device timestamp in the payload (generated right before publish) → ingested_at of the message\'s last row, where ingested_at defaults to clock_timestamp() in the bench database (the moment the sink inserts the row, within its transaction; COMMIT follows)'
  }
  writeFile(`${outBase}.json`, `${JSON.stringify(report, null, 2)}\n`)
  writeFile(`${outBase}.svg`, throughputSvg(tm.series, tm.window, `${label}: messages landed per second and p99 latency`))
  const md = [
    `# Benchmark ${label}`,
    '',
    `Command: \`${report.command}\``,
    '',
    `Machine: ${machineLine(machine)}`,
    '',
    `![throughput and latency](${label}.svg)`,
    '',
    table(['measure', 'value'], [
      ['mode', max ? `max (closed loop, broker backlog ≤ ${a.backlog})` : `${rate} messages/s`],
      ['devices / mix / unknown share', `${a.devices} / ${a.mix} / ${a.unknown}`],
      ['controller connections', `${a.devices} (one each, own account, ${a.transport === 'plain' ? 'plain MQTT' : 'TLS'})`],
      ['messages acknowledged by the broker', acc.messagesSent],
      ['publish rate achieved', `${summary.publishRate} /s`],
      [`sustained end to end (window ${tm.window.from}–${round(tm.window.to, 1)} s)`, `**${tm.messagesPerSecond} messages/s**, ${tm.rowsPerSecond} rows/s`],
      ['device → row latency p50 / p95 / p99 / max', `${tm.latency.p50} / ${tm.latency.p95} / ${tm.latency.p99} / ${tm.latency.max} s`],
      ['landed as rows / dead-lettered as expected', `${acc.landed} / ${acc.deadLettered}`],
      ['lost / partial / unexpected dead letters', `${acc.lost} / ${acc.partial} / ${acc.unexpectedDeadLetters}`],
      ['duplicate rows / duplicate dead letters / redeliveries absorbed by the key', `${acc.duplicateRows} / ${acc.duplicateDeadLetters} / ${summary.redeliveriesAbsorbed}`],
      [`ratio to the PostgreSQL COPY ceiling (${ceiling.copyMessagesPerSecond} messages/s, ${ceiling.source} ${ceiling.measuredAt})`, `**${summary.ratios.copy}**`],
      [`ratio to the sink write path ceiling (${ceiling.sinkWriteMessagesPerSecond} messages/s)`, summary.ratios.sinkWritePath],
      ['CPU per message landed: stages / everything but the load generator', `${summary.cpuMicrosPerMessageTotal.stages} / ${summary.cpuMicrosPerMessageTotal.pipeline} µs`],
      ['machine CPU busy (average)', `${summary.machineBusyPct} %`]
    ]),
    '',
    '## Processes',
    '',
    table(['process', 'CPU avg (cores)', 'CPU max', 'CPU per message (µs)', 'peak RSS (MB)', 'peak anonymous RSS (MB)'], procs.map(p => [p.name, p.cpuCoresAvg, p.cpuCoresMax, summary.cpuMicrosPerMessage[p.name] ?? '', p.name.startsWith('postgres') ? `${p.rssMbMax} (tree, shared buffers counted per process)` : p.peakRssMb, p.peakAnonMb])),
    '',
    'Anonymous RSS is the memory a process alone holds; the rest of its RSS is file pages (for the services, about 55 MB of the Node binary) that every process mapping the file shares.',
    '',
    `Dead letters by reason: ${JSON.stringify(acc.deadLetterReasons)}. Service tuning: ${JSON.stringify(serviceEnv)}; Node flags: ${JSON.stringify(nodeFlags)}; services run from \`${report.serviceEntry}\`.`,
    '',
    `Latency: ${report.latencyMethod}.`,
    ''
  ].join('\n')
  writeFile(`${outBase}.md`, md)
  appendHistory({ machine, command: report.command, label, messagesPerSecond: tm.messagesPerSecond, ratios: summary.ratios, p99: tm.latency.p99, lost: summary.lost, cpu: summary.cpuMicrosPerMessageTotal, cpuByProcess: summary.cpuMicrosPerMessage }, historyFile)
  log(`report: ${relative(ROOT, outBase)}.{json,md,svg}; a line in ${relative(ROOT, historyFile)}`)
  if (a['cpu-prof'] === true) log(`CPU profiles in ${profDir}`)
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  process.exitCode = summary.passed ? 0 : 1
} catch (err) {
  for (const s of SERVICES) process.stderr.write(`--- ${s} log tail ---\n${pipeline.logTail(s, 5).slice(-1200)}\n`)
  throw err
} finally {
  await pipeline.tearDown(a.keep === true)
}

function withoutPerDevice (metrics: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {}
  let perDevice = 0
  for (const [name, value] of metrics) {
    if (name.startsWith('f2_device_')) perDevice++
    else out[name] = value
  }
  if (perDevice > 0) out['per-device series left out'] = perDevice
  return out
}
