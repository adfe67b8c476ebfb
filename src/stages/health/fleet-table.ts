import postgres from 'postgres'
import { connect } from '../../storage/connection.ts'
import type { PostgresConnection } from '../../adapters/connections/postgres.ts'
import type { Collector } from './monitor.ts'
import { abortable } from './probes/types.ts'

/** One controller's row of the status page's fleet table (from `device_state`). */
export interface FleetRow {
  device_id: string
  mode: string | null
  online: boolean
  offline_reason: string | null
  last_seen: string | null
  since: string
  last_values: Array<{ connector: number | null, datapoint_label: string, pin_position: string, value: number | null, value_text: string | null, unit: string, timestamp: string }>
  rows_last_hour: number
  dead_letters_last_hour: number
}

export interface FleetSnapshot {
  checked_at: string | null
  online: number
  offline: number
  /** Offline controllers first, then by MAC; at most `maxRows`. */
  controllers: FleetRow[]
  error?: string
}

/** Both queries live here so the SQL tests can run exactly what the monitor runs. */
export const FLEET_COUNTS_SQL = `
SELECT count(*) FILTER (WHERE online)::int AS online, count(*) FILTER (WHERE NOT online)::int AS offline FROM device_state`

export const FLEET_ROWS_SQL = `
SELECT device_id, mode, online, offline_reason, last_seen, since, last_values, rows_last_hour, dead_letters_last_hour
FROM device_state
ORDER BY online, device_id
LIMIT $1::int`

/**
 * Reads, once per cycle, the fleet's state as the fleet stage keeps it in `device_state`
 * (docs/architecture/fleet-state.md): counts by state and the first `maxRows` controllers,
 * offline first. Failures (e.g. the fleet tables not migrated yet) leave the last snapshot in
 * place with an `error`.
 */
export function fleetTable (options: { db: PostgresConnection, timeoutMs: number, maxRows?: number }): Collector & { snapshot: () => FleetSnapshot } {
  let sql: postgres.Sql | undefined
  let state: FleetSnapshot = { checked_at: null, online: 0, offline: 0, controllers: [] }
  const drop = async (): Promise<void> => {
    const old = sql
    sql = undefined
    await old?.end({ timeout: 0 }).catch(() => {})
  }
  return {
    name: 'fleet-table',
    async collect (signal) {
      sql ??= connect(options.db, { max: 1, idle_timeout: 60, connect_timeout: Math.max(1, Math.ceil(options.timeoutMs / 1000)) })
      try {
        const [counts] = await abortable(signal, sql.unsafe<Array<{ online: number, offline: number }>>(FLEET_COUNTS_SQL))
        const rows = await abortable(signal, sql.unsafe<Array<Omit<FleetRow, 'last_seen' | 'since'> & { last_seen: Date | null, since: Date }>>(FLEET_ROWS_SQL, [options.maxRows ?? 200]))
        state = {
          checked_at: new Date().toISOString(),
          online: counts?.online ?? 0,
          offline: counts?.offline ?? 0,
          controllers: rows.map(r => ({ ...r, last_seen: r.last_seen?.toISOString() ?? null, since: r.since.toISOString() }))
        }
      } catch (err) {
        state = { ...state, error: err instanceof Error ? err.message : String(err) }
        await drop()
        throw err
      }
    },
    close: drop,
    snapshot: () => state
  }
}
