import { randomUUID } from 'node:crypto'
import type postgres from 'postgres'
import type { CommandRequest, CommandWiring } from '../../core/command.ts'
import { MAC_SQL } from '../../registry/queries.ts'
import { iso } from './queries.ts'

export type Row = Record<string, unknown>

/** The columns a command is shown with (GET /api/commands/{id}, the device's list). */
const COMMAND_COLUMNS = [
  'command_id::text AS command_id', 'device_id AS mac', 'kind', 'request', 'token_id', 'state', 'ttl_s',
  ...['accepted_at', 'expires_at', 'sent_at', 'confirmed_at', 'failed_at', 'expired_at'].map(c => `${iso(c)} AS ${c}`),
  'reply', 'failure'
].join(', ')

/**
 * The command tables of the registry database (sql/registry/007_device_commands.sql) as the
 * API uses them: it reads the wiring, records accepted commands with their first event and
 * audit row in one transaction, records refusals in the audit, and reads the history. It
 * never changes a command's state after `accepted`: that is the dispatcher's.
 */
export class CommandStore {
  readonly #sql: postgres.Sql

  constructor (sql: postgres.Sql) {
    this.#sql = sql
  }

  /** The controller's connectors with their mode and pin positions; null when the MAC is not registered. */
  async wiring (mac: string): Promise<CommandWiring | null> {
    const rows = await this.#sql<Array<{ connector: number | null, mode: string | null, positions: number[] | null }>>`
      SELECT cn."ConnectorNumber"::int AS connector, cn."Mode" AS mode,
             array_remove(array_agg(DISTINCT p."Position"::int), NULL) AS positions
      FROM "Device" c
      LEFT JOIN "Connector" cn ON cn."ControllerId" = c."DeviceId"
      LEFT JOIN "Pin" p ON p."ConnectorId" = cn."ConnectorId"
      WHERE coalesce(c."MacAddress", '') <> '' AND ${this.#sql.unsafe(MAC_SQL)} = ${mac}
      GROUP BY cn."ConnectorId", cn."ConnectorNumber", cn."Mode"
      ORDER BY 1`
    if (rows.length === 0) return null
    return {
      connectors: rows.filter(r => r.connector !== null).map(r => ({ number: r.connector as number, mode: r.mode, positions: r.positions ?? [] }))
    }
  }

  /** Records an accepted command, its `accepted` event and the audit row together; returns the command as shown. */
  async accept (mac: string, request: CommandRequest, tokenId: string, received: unknown): Promise<Row> {
    const id = randomUUID()
    const spec = this.#sql.json(request.spec as never)
    return await this.#sql.begin(async tx => {
      const [row] = await tx<Row[]>`
        INSERT INTO device_commands (command_id, device_id, kind, request, token_id, ttl_s, expires_at)
        VALUES (${id}, ${mac}, ${request.spec.kind}, ${spec}, ${tokenId}, ${request.ttlS}, now() + make_interval(secs => ${request.ttlS}))
        RETURNING ${tx.unsafe(COMMAND_COLUMNS)}`
      await tx`INSERT INTO device_command_events (command_id, state, at) SELECT ${id}, 'accepted', accepted_at FROM device_commands WHERE command_id = ${id}`
      await tx`INSERT INTO command_audit (token_id, device_id, request, command_id, outcome) VALUES (${tokenId}, ${mac}, ${tx.json(received as never)}, ${id}, 'accepted')`
      return row as Row
    }) as Row
  }

  /** Records a refused request (400) in the audit; `received` is null when the body was not JSON. */
  async refuse (mac: string, tokenId: string, received: unknown, reason: string): Promise<void> {
    await this.#sql`INSERT INTO command_audit (token_id, device_id, request, outcome, reason)
      VALUES (${tokenId}, ${mac}, ${received === undefined ? null : this.#sql.json(received as never)}, 'refused', ${reason})`
  }

  /** A command with its events in order; undefined when there is none with that id. */
  async get (id: string): Promise<Row | undefined> {
    const [row] = await this.#sql<Row[]>`SELECT ${this.#sql.unsafe(COMMAND_COLUMNS)} FROM device_commands WHERE command_id = ${id}::uuid`
    if (row === undefined) return undefined
    const events = await this.#sql<Row[]>`SELECT state, ${this.#sql.unsafe(iso('at'))} AS at, detail FROM device_command_events WHERE command_id = ${id}::uuid ORDER BY event_id`
    return { ...row, events }
  }

  /** A controller's commands, newest first; one more than `limit` is read to tell whether there are more. */
  async list (mac: string, limit: number, before?: string): Promise<Row[]> {
    return await this.#sql<Row[]>`
      SELECT ${this.#sql.unsafe(COMMAND_COLUMNS)} FROM device_commands d
      WHERE device_id = ${mac}
      ${before === undefined ? this.#sql`` : this.#sql`AND (accepted_at, command_id) < (SELECT accepted_at, command_id FROM device_commands WHERE command_id = ${before}::uuid)`}
      ORDER BY d.accepted_at DESC, d.command_id DESC
      LIMIT ${limit + 1}`
  }
}
