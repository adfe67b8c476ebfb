import { readdirSync, readFileSync } from 'node:fs'

/**
 * CPU and memory of processes from /proc, sampled by the caller (once a second).
 * CPU is utime + stime in clock ticks (USER_HZ = 100 on Linux), so seconds = ticks / 100.
 */
const TICKS = 100

/** `anonBytes`: the resident memory that is the process's own (RssAnon); the rest of RSS is file pages, such as the Node binary's code, shared with every other process that maps them. */
/** `reapedCpuSeconds`: what its exited children used, once it has waited for them (cutime + cstime). */
export interface ProcSample { cpuSeconds: number, reapedCpuSeconds: number, rssBytes: number, hwmBytes: number, anonBytes: number }

export function readProc (pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (comm) may contain spaces; the rest follows the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(rest[11])
    const stime = Number(rest[12])
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024
    return { cpuSeconds: (utime + stime) / TICKS, reapedCpuSeconds: (Number(rest[13]) + Number(rest[14])) / TICKS, rssBytes: kb('VmRSS'), hwmBytes: kb('VmHWM'), anonBytes: kb('RssAnon') }
  } catch {
    return undefined
  }
}

/** `pid` and every process below it (PostgreSQL backends, the JVM's children). */
export function processTree (pid: number): number[] {
  const parent = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      parent.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch { /* gone */ }
  }
  const out = [pid]
  for (let i = 0; i < out.length; i++) {
    for (const [child, ppid] of parent) if (ppid === out[i]) out.push(child)
  }
  return out
}

/** Whole-machine CPU: busy and total jiffies from the first line of /proc/stat. */
export function machineCpu (): { busy: number, total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? ''
  const v = line.trim().split(/\s+/).slice(1).map(Number)
  const total = v.reduce((a, b) => a + b, 0)
  const idle = (v[3] ?? 0) + (v[4] ?? 0)
  return { busy: total - idle, total }
}

export interface SeriesPoint { t: number, cpu: number, rssMb: number }

export interface ProcessStats {
  name: string
  pids: number[]
  /** Average CPU over the run, in cores (1.0 = one core busy). */
  cpuCoresAvg: number
  cpuCoresMax: number
  rssMbMax: number
  /** Peak RSS the kernel recorded (VmHWM) of the last process with this name. */
  peakRssMb: number
  /** Largest sampled anonymous RSS (RssAnon): the part of RSS no other process shares. */
  peakAnonMb: number
  series: SeriesPoint[]
}

/**
 * Samples named process groups every `intervalMs`. A group is resolved anew at every sample
 * (`pids()`), so a restarted service is followed; CPU is summed over the group's tree when
 * `tree` is set (PostgreSQL: postmaster and backends).
 */
export class Sampler {
  readonly #groups: Array<{ name: string, pids: () => number[], tree: boolean }> = []
  readonly #stats = new Map<string, ProcessStats & { last: Map<number, number>, hwm: Map<number, number> }>()
  #timer: NodeJS.Timeout | undefined
  #lastAt = 0
  #machineLast = machineCpu()
  readonly machine: Array<{ t: number, busyPct: number }> = []
  readonly #t0: number

  constructor (t0 = Date.now()) { this.#t0 = t0 }

  add (name: string, pids: () => number[], tree = false): void {
    this.#groups.push({ name, pids, tree })
    this.#stats.set(name, { name, pids: [], cpuCoresAvg: 0, cpuCoresMax: 0, rssMbMax: 0, peakRssMb: 0, peakAnonMb: 0, series: [], last: new Map(), hwm: new Map() })
  }

  start (intervalMs = 1000): void {
    this.#lastAt = Date.now()
    this.sample()
    this.#timer = setInterval(() => this.sample(), intervalMs)
    this.#timer.unref()
  }

  sample (): void {
    const now = Date.now()
    const dt = Math.max(0.001, (now - this.#lastAt) / 1000)
    this.#lastAt = now
    const m = machineCpu()
    const dTotal = m.total - this.#machineLast.total
    if (dTotal > 0) this.machine.push({ t: (now - this.#t0) / 1000, busyPct: 100 * (m.busy - this.#machineLast.busy) / dTotal })
    this.#machineLast = m
    for (const g of this.#groups) {
      const s = this.#stats.get(g.name)
      if (s === undefined) continue
      const roots = g.pids()
      const pids = g.tree ? roots.flatMap(p => processTree(p)) : roots
      let cpuDelta = 0
      let rss = 0
      let anon = 0
      for (const pid of pids) {
        const p = readProc(pid)
        if (p === undefined) continue
        if (!s.pids.includes(pid) && roots.includes(pid)) s.pids.push(pid)
        const prev = s.last.get(pid)
        if (prev !== undefined) cpuDelta += p.cpuSeconds - prev
        s.last.set(pid, p.cpuSeconds)
        rss += p.rssBytes
        anon += p.anonBytes
        if (roots.includes(pid)) s.hwm.set(pid, p.hwmBytes)
      }
      const cpu = Math.max(0, cpuDelta / dt)
      const rssMb = rss / 2 ** 20
      s.series.push({ t: (now - this.#t0) / 1000, cpu, rssMb })
      s.cpuCoresMax = Math.max(s.cpuCoresMax, cpu)
      s.rssMbMax = Math.max(s.rssMbMax, rssMb)
      s.peakAnonMb = Math.max(s.peakAnonMb, anon / 2 ** 20)
      s.peakRssMb = Math.max(s.peakRssMb, ...[...s.hwm.values()].map(b => b / 2 ** 20))
    }
  }

  stop (): ProcessStats[] {
    clearInterval(this.#timer)
    this.sample()
    return [...this.#stats.values()].map(({ last: _l, hwm: _h, ...s }) => {
      const pts = s.series.slice(1)
      const avg = pts.length === 0 ? 0 : pts.reduce((a, p) => a + p.cpu, 0) / pts.length
      return { ...s, cpuCoresAvg: round(avg, 3), cpuCoresMax: round(s.cpuCoresMax, 3), rssMbMax: round(s.rssMbMax, 1), peakRssMb: round(s.peakRssMb, 1), peakAnonMb: round(s.peakAnonMb, 1), series: s.series.map(p => ({ t: round(p.t, 1), cpu: round(p.cpu, 3), rssMb: round(p.rssMb, 1) })) }
    })
  }
}

export function round (v: number, digits = 0): number {
  const f = 10 ** digits
  return Math.round(v * f) / f
}
