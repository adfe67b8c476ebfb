import postgres from 'postgres'
import { connect } from '../../storage/connection.ts'
import type { PostgresConnection } from '../../adapters/connections/postgres.ts'
import type { HealthMetrics } from './metrics.ts'
import type { Collector } from './monitor.ts'
import { abortable } from './probes/types.ts'

/** The newest value of one data point of one controller. */
export interface Reading {
  device_id: string
  connector: number | null
  connector_mode: string
  pin_position: string
  datapoint_label: string
  value: number | null
  value_text: string | null
  unit: string
  timestamp: string
}

export interface DeviceActivitySnapshot {
  checked_at: string | null
  seen: number
  silent: number
  silent_devices: string[]
  newest_at: string | null
  readings: Reading[]
  error?: string
}

/** Both queries live here so the SQL tests can run exactly what the monitor runs. */
export const SILENCE_SQL = `
WITH last AS (
  SELECT device_id, max("timestamp") AS last_seen
  FROM iot_measurements
  WHERE "timestamp" > now() - make_interval(hours => $1::int)
  GROUP BY device_id
)
SELECT device_id, last_seen, last_seen < now() - make_interval(mins => $2::int) AS silent
FROM last ORDER BY device_id`

export const NEWEST_READINGS_SQL = `
SELECT DISTINCT ON (device_id, connector, pin_position, datapoint_label)
  device_id, connector, connector_mode, pin_position, datapoint_label, value, value_text, unit, "timestamp"
FROM iot_measurements
WHERE "timestamp" > now() - make_interval(hours => $1::int)
ORDER BY device_id, connector, pin_position, datapoint_label, "timestamp" DESC
LIMIT $2::int`

/**
 * Reads, once per cycle, which controllers went silent (seen in the seen-window, nothing
 * newer than the silence threshold) and the newest reading of each data point, from
 * `iot_measurements` in the time-series database. Failures leave the last snapshot in
 * place with an `error`; the database's own health is the postgres probe's business.
 */
export function deviceActivity (options: {
  db: PostgresConnection
  timeoutMs: number
  silenceMinutes: number
  seenWindowHours: number
  metrics: HealthMetrics
  maxReadings?: number
}): Collector & { snapshot: () => DeviceActivitySnapshot } {
  let sql: postgres.Sql | undefined
  let state: DeviceActivitySnapshot = { checked_at: null, seen: 0, silent: 0, silent_devices: [], newest_at: null, readings: [] }
  const drop = async (): Promise<void> => {
    const old = sql
    sql = undefined
    await old?.end({ timeout: 0 }).catch(() => {})
  }
  return {
    name: 'device-activity',
    async collect (signal) {
      sql ??= connect(options.db, {
        max: 1,
        idle_timeout: 60,
        connect_timeout: Math.max(1, Math.ceil(options.timeoutMs / 1000))
      })
      try {
        const devices = await abortable(signal, sql.unsafe<Array<{ device_id: string, last_seen: Date, silent: boolean }>>(
          SILENCE_SQL, [options.seenWindowHours, options.silenceMinutes]))
        const readings = await abortable(signal, sql.unsafe<Array<Omit<Reading, 'timestamp'> & { timestamp: Date }>>(
          NEWEST_READINGS_SQL, [options.seenWindowHours, options.maxReadings ?? 500]))
        const silent = devices.filter(d => d.silent).map(d => d.device_id)
        const newest = devices.reduce<Date | null>((acc, d) => acc === null || d.last_seen > acc ? d.last_seen : acc, null)
        state = {
          checked_at: new Date().toISOString(),
          seen: devices.length,
          silent: silent.length,
          silent_devices: silent,
          newest_at: newest?.toISOString() ?? null,
          readings: readings.map(r => ({ ...r, timestamp: r.timestamp.toISOString() }))
        }
        options.metrics.devicesSeen.set(devices.length)
        options.metrics.devicesSilent.set(silent.length)
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
