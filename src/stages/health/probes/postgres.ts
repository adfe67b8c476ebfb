import postgres from 'postgres'
import { connect as connectDb } from '../../../storage/connection.ts'
import type { PostgresConnection } from '../../../adapters/connections/postgres.ts'
import { abortable, type Probe } from './types.ts'

/**
 * Runs a query on a one-connection pool that is kept between checks (postgres.js reconnects
 * by itself after a restart). On failure the pool is dropped, so a half-open socket is never
 * reused. Details: server version, database size and, for the time-series database, the
 * rows received in the last minute.
 */
export function postgresProbe (options: { name: string, db: PostgresConnection, timeoutMs: number, measurements?: boolean }): Probe {
  let sql: postgres.Sql | undefined
  const connect = (): postgres.Sql => connectDb(options.db, {
    max: 1,
    idle_timeout: 60,
    connect_timeout: Math.max(1, Math.ceil(options.timeoutMs / 1000))
  })
  const drop = async (): Promise<void> => {
    const old = sql
    sql = undefined
    await old?.end({ timeout: 0 }).catch(() => {})
  }
  return {
    name: options.name,
    kind: 'postgres',
    critical: true,
    async check (signal) {
      sql ??= connect()
      try {
        const [row] = await abortable(signal, sql<Array<{ version: string, size: string }>>`
          SELECT current_setting('server_version') AS version, pg_database_size(current_database())::text AS size`)
        const details: Record<string, unknown> = {
          server: `${options.db.host}:${options.db.port}`,
          database: options.db.database,
          version: row?.version,
          size_bytes: Number(row?.size)
        }
        if (options.measurements === true) {
          const [recent] = await abortable(signal, sql<Array<{ n: string }>>`
            SELECT count(*)::text AS n FROM iot_measurements WHERE timestamp > now() - interval '1 minute'`.catch(() => [{ n: 'NaN' }]))
          const n = Number(recent?.n)
          if (Number.isFinite(n)) details.rows_last_minute = n
        }
        return details
      } catch (err) {
        await drop()
        throw err
      }
    },
    close: drop
  }
}
