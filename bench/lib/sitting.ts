import { execFileSync } from 'node:child_process'
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MachineInfo } from './machine.ts'
import { round, type ProcessStats } from './proc.ts'
import { ROOT } from './stack.ts'

/** The two ceilings a pipeline run is stated against, in pipeline messages per second. */
export interface SittingCeiling {
  copyMessagesPerSecond: number
  sinkWriteMessagesPerSecond: number
  rowsPerMessage: number
  measuredAt: string
  /** `measured`: right before this run; `reused`: results/ceiling.json. */
  source: 'measured' | 'reused'
  command: string
}

/** A ceiling older than this is not "of the same sitting". */
const FRESH_MS = 60 * 60 * 1000

interface CeilingReport {
  summary: { copyMessagesPerSecond?: number | null, sinkWriteMessagesPerSecond?: number | null, rowsPerMessage: number, messagesPerSecondByComponent: Record<string, number> }
  machine: { date: string }
  command: string
}

function fromReport (r: CeilingReport, source: SittingCeiling['source']): SittingCeiling {
  const by = r.summary.messagesPerSecondByComponent
  const copy = r.summary.copyMessagesPerSecond ?? by['PostgreSQL COPY']
  const write = r.summary.sinkWriteMessagesPerSecond ?? Object.entries(by).find(([k]) => k.startsWith('sink write path'))?.[1]
  if (copy === undefined || copy === null || write === undefined || write === null) throw new Error(`the ceiling report of ${r.machine.date} has no PostgreSQL COPY and sink write path figures`)
  return { copyMessagesPerSecond: copy, sinkWriteMessagesPerSecond: write, rowsPerMessage: r.summary.rowsPerMessage, measuredAt: r.machine.date, source, command: r.command }
}

/**
 * Measures the PostgreSQL ceilings now (`bench/ceiling.ts --only copy`, into `work`), or, with
 * `reuse`, reads results/ceiling.json if it was measured within the hour: a ratio against
 * another sitting's ceiling mixes two machines' speeds.
 */
export function sittingCeiling (mode: 'measure' | 'reuse', seconds: number, work: string, log: (s: string) => void): SittingCeiling {
  if (mode === 'reuse') {
    const file = join(ROOT, 'results', 'ceiling.json')
    if (!existsSync(file)) throw new Error('--ceiling reuse: results/ceiling.json does not exist; run `npm run bench:ceiling` or leave --ceiling out')
    const r = JSON.parse(readFileSync(file, 'utf8')) as CeilingReport
    const age = Date.now() - Date.parse(r.machine.date)
    if (!(age < FRESH_MS)) throw new Error(`--ceiling reuse: results/ceiling.json was measured at ${r.machine.date}, over an hour ago; leave --ceiling out to measure it now`)
    return fromReport(r, 'reused')
  }
  log(`measuring the PostgreSQL ceilings (${seconds} s each)`)
  const out = join(work, 'ceiling')
  execFileSync(process.execPath, [join(ROOT, 'bench', 'ceiling.ts'), '--only', 'copy', '--seconds', String(seconds), '--out', out], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] })
  const c = fromReport(JSON.parse(readFileSync(join(out, 'ceiling.json'), 'utf8')) as CeilingReport, 'measured')
  log(`ceilings: COPY ${c.copyMessagesPerSecond}, sink write path ${c.sinkWriteMessagesPerSecond} messages/s`)
  return c
}

/**
 * µs of CPU per message landed, per process, over the window [from, to) (seconds after the
 * sampler's t0): the average cores used in the window divided by the messages landed per
 * second. Unlike a rate, this figure carries over between machines of one kind.
 */
export function cpuPerMessage (procs: readonly ProcessStats[], window: { from: number, to: number }, messagesPerSecond: number): Record<string, number | null> {
  const out: Record<string, number | null> = {}
  for (const p of procs) {
    const pts = p.series.filter(x => x.t > window.from && x.t <= window.to)
    out[p.name] = pts.length === 0 || messagesPerSecond <= 0 ? null : round(pts.reduce((s, x) => s + x.cpu, 0) / pts.length / messagesPerSecond * 1e6, 1)
  }
  return out
}

/** The stages' share of cpuPerMessage, and everything's (load generator excluded). */
export function cpuTotals (perMessage: Record<string, number | null>, stages: readonly string[]): { stages: number, pipeline: number } {
  let st = 0
  let all = 0
  for (const [name, v] of Object.entries(perMessage)) {
    if (v === null || name === 'load-generator') continue
    all += v
    if (stages.includes(name)) st += v
  }
  return { stages: round(st, 1), pipeline: round(all, 1) }
}

const HISTORY_HEADER = ['date', 'machine', 'command', 'label', 'messages_per_s', 'copy_ratio', 'sink_write_ratio', 'p99_s', 'lost', 'cpu_us_per_msg_stages', 'cpu_us_per_msg_all', 'cpu_us_per_msg_by_process'].join('\t')

export interface HistoryLine {
  machine: MachineInfo
  command: string
  label: string
  messagesPerSecond: number
  ratios: { copy: number, sinkWritePath: number }
  p99: number
  lost: number
  cpu: { stages: number, pipeline: number }
  cpuByProcess: Record<string, number | null>
}

/** One line per run in `file` (results/history.tsv; created with its header). */
export function appendHistory (h: HistoryLine, file: string): void {
  if (!existsSync(file)) writeFileSync(file, `${HISTORY_HEADER}\n`)
  const m = h.machine
  const machine = `${m.nproc}c ${m.cpuModel} load ${m.loadAverage1m}`
  const byProcess = Object.entries(h.cpuByProcess).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${v}`).join(' ')
  const cells = [m.date, machine, h.command, h.label, h.messagesPerSecond, h.ratios.copy, h.ratios.sinkWritePath, h.p99, h.lost, h.cpu.stages, h.cpu.pipeline, byProcess]
  appendFileSync(file, `${cells.map(c => String(c).replace(/[\t\n]/g, ' ')).join('\t')}\n`)
}
