import type { BrokerSecuritySnapshot } from './broker-log.ts'
import type { DeviceActivitySnapshot } from './device-activity.ts'
import type { FleetSnapshot } from './fleet-table.ts'
import type { Monitor, OverallStatus } from './monitor.ts'
import type { LagReading } from '../../adapters/kafka-lag.ts'
import type { CounterRate, ServiceCounters } from './service-scraper.ts'

/** The headline counters of each stage: what came in, what went out. */
export const STAGE_FLOW: Record<string, { in?: string, out: string }> = {
  simulator: { out: 'f2_simulator_messages_sent_total' },
  connector: { in: 'f2_connector_messages_received_total', out: 'f2_connector_messages_forwarded_total' },
  processor: { in: 'f2_processor_records_consumed_total', out: 'f2_processor_measurements_produced_total' },
  sink: { in: 'f2_sink_records_consumed_total', out: 'f2_sink_rows_written_total' },
  fleet: { in: 'f2_fleet_records_consumed_total', out: 'f2_fleet_state_records_written_total' }
}

export interface StageStatus {
  name: string
  status: 'healthy' | 'unhealthy' | 'unknown'
  input: (CounterRate & { metric: string }) | null
  output: (CounterRate & { metric: string }) | null
  dead_letters: CounterRate
  scraped_at: string | null
  error?: string
}

/** `/api/status`: what the status page draws, built from the monitor's last cycle. */
export interface StatusDocument {
  generated_at: string
  status: OverallStatus
  interval_ms: number
  components: Array<{ name: string, kind: string, critical: boolean, status: string, check_duration_ms: number, checked_at: string, since: string, error?: string }>
  stages: StageStatus[]
  lag: LagReading[]
  dead_letters: Array<{ stage: string, reason: string } & CounterRate>
  devices: DeviceActivitySnapshot
  /** Refusals at the broker (its log); null when the monitor has no broker log to read. */
  broker: BrokerSecuritySnapshot | null
  /** Online/offline, last seen, last values and dead letters per controller (device_state). */
  fleet: FleetSnapshot
}

function pick (counters: Record<string, CounterRate>, metric: string | undefined): (CounterRate & { metric: string }) | null {
  if (metric === undefined) return null
  const c = counters[metric]
  return { metric, total: c?.total ?? 0, rate: c?.rate ?? null }
}

export function buildStatus (input: {
  monitor: Monitor
  intervalMs: number
  services: readonly ServiceCounters[]
  lag: readonly LagReading[]
  devices: DeviceActivitySnapshot
  fleet: FleetSnapshot
  broker?: BrokerSecuritySnapshot | undefined
}): StatusDocument {
  const report = input.monitor.report()
  const stages: StageStatus[] = input.services.map(s => {
    const flow = STAGE_FLOW[s.name]
    const dl = Object.values(s.dead_letters)
    const rated = dl.filter(d => d.rate !== null)
    const stage: StageStatus = {
      name: s.name,
      status: report.services[s.name]?.status ?? 'unknown',
      input: pick(s.counters, flow?.in),
      output: pick(s.counters, flow?.out),
      dead_letters: {
        total: dl.reduce((a, d) => a + d.total, 0),
        rate: rated.length === 0 ? (dl.length === 0 && s.scraped_at !== null && s.error === undefined ? 0 : null) : rated.reduce((a, d) => a + (d.rate ?? 0), 0)
      },
      scraped_at: s.scraped_at
    }
    if (s.error !== undefined) stage.error = s.error
    return stage
  })
  const deadLetters = input.services.flatMap(s =>
    Object.entries(s.dead_letters).map(([reason, c]) => ({ stage: s.name, reason, ...c })))
  return {
    generated_at: report.timestamp,
    status: report.status,
    interval_ms: input.intervalMs,
    components: Object.values(report.services).map(c => {
      const out: StatusDocument['components'][number] = {
        name: c.name, kind: c.kind, critical: c.critical, status: c.status, check_duration_ms: c.check_duration_ms, checked_at: c.checked_at, since: c.since
      }
      if (c.error !== undefined) out.error = c.error
      return out
    }),
    stages,
    lag: [...input.lag],
    dead_letters: deadLetters,
    devices: input.devices,
    fleet: input.fleet,
    broker: input.broker?.source === null || input.broker === undefined ? null : input.broker
  }
}
