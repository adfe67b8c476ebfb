/**
 * Soak: the pipeline under steady load for a long time, watched for creeping memory, lag or loss.
 *
 *   npm run soak -- [--minutes 30] [--rate N] [--devices 100] [--interval 10] [--warmup 0.2] [--out results/soak]
 *
 * Without --rate it runs at half the measured maximum: the highest sustained messages/s of the
 * `npm run bench -- --rate max` reports under results/bench/. A private pipeline (harness/pipeline.ts)
 * takes the simulator's traffic; every `interval` seconds it records each service's RSS, each
 * consumer group's lag (records not yet committed) and how far the rows in the database trail
 * what the broker acknowledged ("behind"). At the end every message is accounted for (lost,
 * duplicated). Flat: after warm-up (the first `warmup` share of the run), each service's RSS
 * trend and the lag stay bounded (see `verdict`). → <out>.{json,md}; exit 1 when a
 * message was lost or duplicated or the run is not flat.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { account, collectDeadLetters, loadExpected } from './lib/account.ts'
import { ensureStack } from './lib/ensure-stack.ts'
import { machineInfo, machineLine } from './lib/machine.ts'
import { Pipeline, SERVICES } from '../harness/pipeline.ts'
import { readProc, round } from './lib/proc.ts'
import { table, writeFile } from './lib/report.ts'
import { ROOT } from './lib/stack.ts'

const { values: a } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string' },
    devices: { type: 'string', default: '100' },
    interval: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '0.2' },
    // Unacknowledged publishes per controller (each controller has its own connection).
    window: { type: 'string', default: '20' },
    out: { type: 'string', default: 'results/soak' }
  }
})
const log = (s: string): void => { process.stderr.write(`[soak] ${s}\n`) }

/** The highest sustained rate among the max-mode benchmark reports, with its file. */
function measuredMaximum (): { rate: number, from: string } | undefined {
  const dir = join(ROOT, 'results', 'bench')
  if (!existsSync(dir)) return undefined
  let best: { rate: number, from: string } | undefined
  for (const f of readdirSync(dir).filter(f => f.endsWith('.json'))) {
    try {
      const s = (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { summary?: { mode?: string, messagesPerSecond?: number, lost?: number } }).summary
      if (s?.mode === 'max' && s.lost === 0 && typeof s.messagesPerSecond === 'number' && s.messagesPerSecond > (best?.rate ?? 0)) best = { rate: s.messagesPerSecond, from: `results/bench/${f}` }
    } catch { /* not a report */ }
  }
  return best
}

export interface SoakPoint {
  t: number
  acked: number
  /** Rows the acknowledged messages must produce minus rows stored (backlog in flight, or loss). */
  behindRows: number
  lag: { processor: number, sink: number }
  rssMb: Record<string, number>
}

/** Least-squares slope of y over x (per unit of x). */
export function slope (points: Array<[number, number]>): number {
  const n = points.length
  if (n < 2) return 0
  const mx = points.reduce((s, [x]) => s + x, 0) / n
  const my = points.reduce((s, [, y]) => s + y, 0) / n
  const sxx = points.reduce((s, [x]) => s + (x - mx) ** 2, 0)
  return sxx === 0 ? 0 : points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) / sxx
}

const minutes = Number(a.minutes)
const interval = Number(a.interval)
const max = measuredMaximum()
const rate = a.rate !== undefined ? Number(a.rate) : max === undefined ? undefined : Math.round(max.rate / 2)
if (rate === undefined || !(rate > 0)) throw new Error('no measured maximum under results/bench (run `npm run bench -- --rate max` first) and no --rate given')
const rateSource = a.rate !== undefined ? '--rate' : `half of ${max?.rate} messages/s (${max?.from})`

ensureStack()
const machine = await machineInfo()
const work = mkdtempSync(join(tmpdir(), 'f2-soak-'))
const p = new Pipeline({ devices: Number(a.devices), seed: 11, logDir: join(work, 'logs') }, 'soak')
log(`run ${p.id} at ${rate} messages/s (${rateSource}) for ${minutes} min; logs in ${work}`)
const points: SoakPoint[] = []
try {
  await p.setUp()
  await p.startAll()
  const expectedFile = join(work, 'expected.tsv')
  let acked = 0
  const load = p.load({
    rate, durationS: minutes * 60, count: 0, windowPerConnection: Number(a.window),
    mix: 'sim', unknownFraction: 0.01, expectedFile, clientPrefix: `${p.id}-load`
  }, progress => { acked = progress.acked })
  const t0 = Date.now()
  let done = false
  void load.done.finally(() => { done = true })
  // Rows expected so far, read incrementally from the load generator's record of acknowledged messages.
  let expectedRows = 0
  let consumed = 0
  const readExpected = (): void => {
    let text: string
    try { text = readFileSync(expectedFile, 'utf8') } catch { return }
    const lastNewline = text.lastIndexOf('\n')
    if (lastNewline < consumed) return
    for (const line of text.slice(consumed, lastNewline).split('\n')) {
      if (line === '') continue
      expectedRows += Number(line.split('\t')[2] ?? 0)
    }
    consumed = lastNewline + 1
  }
  while (!done) {
    await Promise.race([sleep(interval * 1000), load.done])
    readExpected()
    const [c] = await p.sql`SELECT count(*)::int AS n FROM iot_measurements`.catch(() => [{ n: -1 }])
    const rssMb: Record<string, number> = {}
    for (const s of SERVICES) {
      const pid = p.pid(s)
      const proc = pid === undefined ? undefined : readProc(pid)
      rssMb[s] = proc === undefined ? 0 : round(proc.rssBytes / 2 ** 20, 1)
    }
    const sum = (xs: number[]): number => xs.reduce((t, x) => t + x, 0)
    const lag = { processor: sum(await p.lag('processor').catch(() => [])), sink: sum(await p.lag('sink').catch(() => [])) }
    const point: SoakPoint = { t: round((Date.now() - t0) / 1000), acked, behindRows: expectedRows - Number(c?.n ?? 0), lag, rssMb }
    points.push(point)
    log(JSON.stringify(point))
  }
  await load.done
  // Drain: everything acknowledged lands (or the drain gives up after 3 minutes).
  readExpected()
  const until = Date.now() + 180_000
  for (;;) {
    const [c] = await p.sql`SELECT count(*)::int AS n FROM iot_measurements`.catch(() => [{ n: -1 }])
    if (Number(c?.n ?? 0) >= expectedRows || Date.now() > until) break
    await sleep(1000)
  }
  await sleep(3000)
  const exitCodes = await p.stopAll()
  await loadExpected(p.sql, [expectedFile])
  await collectDeadLetters(p.sql, p.urls.kafka.split(','), p.topics.dead)
  const acc = await account(p.sql)

  const warm = points.filter(pt => pt.t >= minutes * 60 * Number(a.warmup))
  const perService = Object.fromEntries(SERVICES.map(s => {
    const xs = warm.map(pt => [pt.t / 60, pt.rssMb[s] ?? 0] as [number, number])
    const first = xs[0]?.[1] ?? 0
    const last = xs[xs.length - 1]?.[1] ?? 0
    return [s, { afterWarmupMb: first, endMb: last, peakMb: Math.max(0, ...xs.map(([, y]) => y)), slopeMbPerMin: round(slope(xs), 2) }]
  }))
  const lagMax = Math.max(0, ...warm.map(pt => pt.lag.processor + pt.lag.sink))
  const behindMax = Math.max(0, ...warm.map(pt => pt.behindRows))
  // Flat: no service grows by more than 10 % of its post-warm-up size over the rest of the run
  // (the trend, so that one garbage-collection peak does not count), and lag stays bounded:
  // at most 5 s of traffic uncommitted, rows at most 5 s of traffic behind.
  const rowsPerMessage = expectedRows / Math.max(1, acc.messagesSent)
  const warmMinutes = minutes * (1 - Number(a.warmup))
  const memoryFlat = Object.values(perService).every(s => s.slopeMbPerMin * warmMinutes <= 0.1 * Math.max(1, s.afterWarmupMb))
  const lagBounded = lagMax <= 5 * rate * (1 + rowsPerMessage) && behindMax <= 5 * rate * Math.max(1, rowsPerMessage)
  const lossless = acc.lost === 0 && acc.partial === 0 && acc.duplicateRows === 0 && acc.duplicateDeadLetters === 0 && acc.unexpectedDeadLetters === 0
  const verdict = { memoryFlat, lagBounded, lossless, passed: memoryFlat && lagBounded && lossless }
  const summary = { rate, rateSource, minutes, sent: acc.messagesSent, landed: acc.landed, deadLettered: acc.deadLettered, lost: acc.lost + acc.partial, duplicated: acc.duplicateRows + acc.duplicateDeadLetters, lagMax, behindMax, perService, verdict }
  const command = `npm run soak -- ${process.argv.slice(2).join(' ')}`.trim()
  writeFile(join(ROOT, `${a.out}.json`), `${JSON.stringify({ summary, machine, command, points, exitCodes, accounting: acc }, null, 2)}\n`)
  const everyNth = Math.max(1, Math.ceil(points.length / 30))
  writeFile(join(ROOT, `${a.out}.md`), [
    '# Soak',
    '',
    `Command: \`${command}\` — ${rate} messages/s (${rateSource}), ${minutes} min, simulator mix, ${a.devices} controllers, 1 % unregistered (expected dead letters).`,
    '',
    `Machine: ${machineLine(machine)}`,
    '',
    `**${verdict.passed ? 'Flat and lossless' : `Not passed: memory ${verdict.memoryFlat ? 'flat' : 'GROWING'}, lag ${verdict.lagBounded ? 'bounded' : 'NOT bounded'}, ${verdict.lossless ? 'lossless' : 'LOSS or DUPLICATES'}`}**: sent ${acc.messagesSent}, landed ${acc.landed}, dead-lettered ${acc.deadLettered}, lost ${summary.lost}, duplicated ${summary.duplicated}. After warm-up (${Math.round(Number(a.warmup) * 100)} % of the run): largest lag ${lagMax} records, rows at most ${behindMax} behind the acknowledged messages.`,
    '',
    table(['service', 'RSS after warm-up (MB)', 'RSS at end (MB)', 'peak (MB)', 'trend (MB/min)'],
      SERVICES.map(s => { const x = perService[s] as { afterWarmupMb: number, endMb: number, peakMb: number, slopeMbPerMin: number }; return [s, x.afterWarmupMb, x.endMb, x.peakMb, x.slopeMbPerMin] })),
    '',
    table(['t (s)', 'acknowledged', 'rows behind', 'lag processor / sink', 'RSS connector / processor / sink (MB)'],
      points.filter((_, i) => i % everyNth === 0 || i === points.length - 1).map(pt => [pt.t, pt.acked, pt.behindRows, `${pt.lag.processor} / ${pt.lag.sink}`, `${pt.rssMb.connector} / ${pt.rssMb.processor} / ${pt.rssMb.sink}`])),
    ''
  ].join('\n'))
  process.stdout.write(`${JSON.stringify(summary)}\n`)
  process.exitCode = verdict.passed ? 0 : 1
} finally {
  await p.tearDown()
}
