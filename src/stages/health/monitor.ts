import type { Logger } from '../../adapters/logger.ts'
import type { HealthMetrics } from './metrics.ts'
import type { Probe } from './probes/types.ts'

export type ComponentHealth = 'healthy' | 'unhealthy'
export type OverallStatus = 'healthy' | 'degraded' | 'unhealthy'

/** The last result of one component's probe, as `/health/{component}` shows it. */
export interface ComponentState {
  name: string
  kind: Probe['kind']
  critical: boolean
  status: ComponentHealth
  /** When the last probe finished (ISO). */
  checked_at: string
  check_duration_ms: number
  /** When the status last changed (ISO). */
  since: string
  consecutive_failures: number
  error?: string
  details: Record<string, unknown>
}

/** The seed's `/health` body. */
export interface HealthReport {
  status: OverallStatus
  timestamp: string
  services: Record<string, ComponentState>
  counts: { healthy: number, unhealthy: number, total: number }
}

/** Work done once per cycle after the probes (device activity, scraping the services). */
export interface Collector {
  name: string
  collect: (signal: AbortSignal) => Promise<void>
  close?: () => Promise<void>
}

export interface MonitorOptions {
  probes: Probe[]
  collectors?: Collector[]
  intervalMs: number
  timeoutMs: number
  metrics: HealthMetrics
  logger: Logger
  now?: () => number
}

export interface Monitor {
  /** Runs one cycle at once (so `/health` is never empty), then one per interval. */
  start: () => Promise<void>
  stop: () => Promise<void>
  /** One cycle: every probe concurrently, each bounded by the timeout, then the collectors. */
  runCycle: () => Promise<void>
  report: () => HealthReport
  component: (name: string) => ComponentState | undefined
  cycles: () => number
}

/**
 * Overall status: healthy when every component is; unhealthy when a critical one
 * (broker, Kafka, a database) is down, since then no data flows; degraded otherwise.
 */
export function overallStatus (states: readonly Pick<ComponentState, 'status' | 'critical'>[]): OverallStatus {
  const down = states.filter(s => s.status === 'unhealthy')
  if (down.length === 0) return 'healthy'
  if (down.some(s => s.critical) || down.length === states.length) return 'unhealthy'
  return 'degraded'
}

class ProbeTimeout extends Error {
  constructor (ms: number) {
    super(`no answer within ${ms} ms`)
    this.name = 'ProbeTimeout'
  }
}

export function createMonitor (options: MonitorOptions): Monitor {
  const { probes, metrics, logger } = options
  const collectors = options.collectors ?? []
  const now = options.now ?? Date.now
  const states = new Map<string, ComponentState>()
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let stopped = false
  let cycleCount = 0

  async function runProbe (probe: Probe): Promise<void> {
    const controller = new AbortController()
    const timeout = setTimeout(() => controller.abort(new ProbeTimeout(options.timeoutMs)), options.timeoutMs)
    const started = performance.now()
    let details: Record<string, unknown> = {}
    let error: string | undefined
    let result: 'ok' | 'failed' | 'timeout' = 'ok'
    try {
      details = await probe.check(controller.signal)
    } catch (err) {
      result = controller.signal.aborted ? 'timeout' : 'failed'
      error = controller.signal.aborted ? (controller.signal.reason as Error).message : describe(err)
      const extra = (err as { details?: unknown }).details
      if (typeof extra === 'object' && extra !== null) details = extra as Record<string, unknown>
    } finally {
      clearTimeout(timeout)
    }
    const seconds = (performance.now() - started) / 1000
    const status: ComponentHealth = result === 'ok' ? 'healthy' : 'unhealthy'
    const previous = states.get(probe.name)
    const at = new Date(now()).toISOString()
    const state: ComponentState = {
      name: probe.name,
      kind: probe.kind,
      critical: probe.critical,
      status,
      checked_at: at,
      check_duration_ms: Math.round(seconds * 10_000) / 10,
      since: previous?.status === status ? previous.since : at,
      consecutive_failures: status === 'healthy' ? 0 : (previous?.consecutive_failures ?? 0) + 1,
      details
    }
    if (error !== undefined) state.error = error
    states.set(probe.name, state)
    if (previous !== undefined && previous.status !== status) {
      logger[status === 'healthy' ? 'info' : 'warn']({ component: probe.name, error }, `${probe.name} is ${status}`)
    } else if (previous === undefined && status === 'unhealthy') {
      logger.warn({ component: probe.name, error }, `${probe.name} is unhealthy`)
    }
    metrics.componentUp.set({ component: probe.name }, status === 'healthy' ? 1 : 0)
    metrics.checkDuration.set({ component: probe.name }, seconds)
    metrics.probeLatency.observe({ component: probe.name }, seconds)
    metrics.probes.inc({ component: probe.name, result })
  }

  async function runCollector (collector: Collector): Promise<void> {
    const controller = new AbortController()
    const timeout = setTimeout(() => controller.abort(new ProbeTimeout(options.timeoutMs)), options.timeoutMs)
    try {
      await collector.collect(controller.signal)
      metrics.collections.inc({ collector: collector.name, result: 'ok' })
    } catch (err) {
      metrics.collections.inc({ collector: collector.name, result: 'failed' })
      logger.debug({ collector: collector.name, err: describe(err) }, 'collector failed')
    } finally {
      clearTimeout(timeout)
    }
  }

  async function runCycle (): Promise<void> {
    await Promise.all(probes.map(runProbe))
    await Promise.all(collectors.map(runCollector))
    cycleCount++
  }

  function schedule (): void {
    if (stopped) return
    timer = setTimeout(() => {
      running = runCycle().finally(schedule)
    }, options.intervalMs)
  }

  return {
    async start () {
      stopped = false
      running = runCycle()
      await running
      schedule()
    },
    async stop () {
      stopped = true
      clearTimeout(timer)
      await running?.catch(() => {})
      await Promise.all([...probes, ...collectors].map(p => p.close?.().catch(() => {})))
    },
    runCycle,
    report () {
      const services: Record<string, ComponentState> = {}
      for (const probe of probes) {
        const state = states.get(probe.name)
        if (state !== undefined) services[probe.name] = state
      }
      const list = Object.values(services)
      const healthy = list.filter(s => s.status === 'healthy').length
      return {
        status: overallStatus(list),
        timestamp: new Date(now()).toISOString(),
        services,
        counts: { healthy, unhealthy: list.length - healthy, total: list.length }
      }
    },
    component: name => states.get(name),
    cycles: () => cycleCount
  }
}

function describe (err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) return err.errors.map(describe).join('; ')
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    let text = err.message !== '' ? err.message : err.name
    if (typeof code === 'string' && !text.includes(code)) text = `${code}: ${text}`
    // fetch and some clients hide the socket error (ECONNREFUSED, ...) in `cause`.
    return err.cause !== undefined && err.cause !== null ? `${text} (${describe(err.cause)})` : text
  }
  return String(err)
}
