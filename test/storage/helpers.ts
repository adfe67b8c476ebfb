import net from 'node:net'
import type postgres from 'postgres'
import type { Measurement } from '../../src/core/measurement.ts'
import { connect } from '../../src/storage/connection.ts'
import { MEASUREMENT_COLUMNS, withStoredNulls } from '../../src/storage/copy-format.ts'
import { migrate, type MigrateReport, type MigrationTarget } from '../../src/storage/migrate.ts'
import type { QueryRunner } from '../../src/storage/query-runner.ts'
import { createTempDatabase } from '../../harness/stack.ts'

export interface MigratedDatabase {
  url: string
  sql: postgres.Sql
  report: MigrateReport
  /** Ends `sql` and drops the database. */
  drop: () => Promise<void>
}

/** A fresh database on the stack's registry or time-series server with all migrations applied. */
export async function migratedDatabase (kind: MigrationTarget, options: { max?: number } = {}): Promise<MigratedDatabase> {
  const db = await createTempDatabase(kind)
  const sql = connect(db.url, { max: options.max ?? 4 })
  try {
    const report = await migrate(sql, kind)
    return {
      url: db.url,
      sql,
      report,
      async drop () {
        await sql.end({ timeout: 5 })
        await db.drop()
      }
    }
  } catch (err) {
    await sql.end({ timeout: 5 })
    await db.drop()
    throw err
  }
}

/**
 * Stores `rows` as the sink would (its stored nulls) with plain multi-row INSERTs, 200 a
 * statement, duplicates skipped: for a runner without COPY FROM STDIN (PGlite).
 */
export async function insertRows (runner: QueryRunner, rows: Measurement[]): Promise<void> {
  const cols = MEASUREMENT_COLUMNS.map(c => `"${c}"`).join(', ')
  for (let i = 0; i < rows.length; i += 200) {
    const chunk = rows.slice(i, i + 200)
    const values: unknown[] = []
    const tuples = chunk.map((m, r) => {
      const stored = withStoredNulls(m)
      values.push(...MEASUREMENT_COLUMNS.map(c => stored[c]))
      return `(${MEASUREMENT_COLUMNS.map((_, k) => `$${r * MEASUREMENT_COLUMNS.length + k + 1}`).join(', ')})`
    })
    await runner.query(`INSERT INTO iot_measurements (${cols}) VALUES ${tuples.join(', ')} ON CONFLICT DO NOTHING`, values)
  }
}

/**
 * A TCP forwarder in front of a real PostgreSQL server that a test can take down
 * (refuse new connections and cut existing ones) and bring back on the same port.
 */
export class TcpProxy {
  readonly #target: { host: string, port: number }
  readonly #sockets = new Set<net.Socket>()
  #server: net.Server | undefined
  port = 0

  constructor (targetUrl: string) {
    const u = new URL(targetUrl)
    this.#target = { host: u.hostname, port: Number(u.port === '' ? 5432 : u.port) }
  }

  /** `url` rewritten to go through the proxy. */
  rewrite (url: string): string {
    const u = new URL(url)
    u.hostname = '127.0.0.1'
    u.port = String(this.port)
    return u.toString()
  }

  async up (): Promise<void> {
    const server = net.createServer(client => {
      const upstream = net.connect(this.#target.port, this.#target.host)
      this.#sockets.add(client)
      this.#sockets.add(upstream)
      const kill = (): void => {
        client.destroy()
        upstream.destroy()
        this.#sockets.delete(client)
        this.#sockets.delete(upstream)
      }
      client.on('error', kill).on('close', kill)
      upstream.on('error', kill).on('close', kill)
      client.pipe(upstream)
      upstream.pipe(client)
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.port, '127.0.0.1', () => resolve())
    })
    this.port = (server.address() as net.AddressInfo).port
    this.#server = server
  }

  async down (): Promise<void> {
    const server = this.#server
    this.#server = undefined
    for (const s of this.#sockets) s.destroy()
    this.#sockets.clear()
    if (server !== undefined) await new Promise<void>(resolve => server.close(() => resolve()))
  }
}

