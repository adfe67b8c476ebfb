import type postgres from 'postgres'
import { parseCommandRequest, publications, type CommandSpec } from '../../core/command.ts'

/**
 * A command the dispatcher has claimed: what to publish and how long it may still live.
 * `pending`: the indexes of its MQTT messages (core/command.ts `publications`) to publish now,
 * in order. `resumed`: claimed earlier by a dispatcher that stopped before it had stored all
 * of them in the outbox (see `claim`).
 */
export interface ClaimedCommand { id: string, mac: string, spec: CommandSpec, remainingS: number, resumed: boolean, pending: number[] }
export interface SentCommand { id: string, mac: string, spec: CommandSpec, expiresAt: Date }

/**
 * The dispatcher's state changes on the command tables (sql/registry/007_device_commands.sql).
 * Every change is a conditional UPDATE on the current state with its event in the same
 * transaction, so two dispatchers, or one restarted after kill -9, can never both move a
 * command out of a state: `claim` wins once per command. Which of its MQTT messages reach the
 * broker is decided by the outbox (outbox.ts): a message is published only by the dispatcher
 * that stored its row first.
 */
export class DispatcherStore {
  readonly #sql: postgres.Sql

  constructor (sql: postgres.Sql) {
    this.#sql = sql
  }

  /**
   * accepted → sent, only while the TTL runs; undefined when the command is final, has
   * expired (then it is marked expired here, never sent), or is `sent` with every one of its
   * MQTT messages in the outbox. The caller publishes what `pending` names, each through the
   * outbox. A command that is `sent` but has messages without an outbox row was claimed by a
   * dispatcher that stopped (kill -9, crash) before it stored them: those never reached the
   * broker, and they are returned again (`resumed: true`) to the dispatcher that reads its
   * record again, so a crash neither loses nor repeats a command. Messages with a row are
   * resumed by the outbox of the dispatcher that stored them, at its next connection.
   */
  async claim (id: string): Promise<ClaimedCommand | undefined> {
    return await this.#sql.begin(async tx => {
      const [row] = await tx<Array<{ mac: string, request: unknown, remaining_ms: number }>>`
        UPDATE device_commands SET state = 'sent', sent_at = now()
        WHERE command_id = ${id}::uuid AND state = 'accepted' AND expires_at > now()
        RETURNING device_id AS mac, request, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS remaining_ms`
      if (row !== undefined) {
        await tx`INSERT INTO device_command_events (command_id, state, at) SELECT command_id, 'sent', sent_at FROM device_commands WHERE command_id = ${id}::uuid`
        return claimed(id, row, false, [])
      }
      // Locked until this transaction ends: a confirmation or expiry waits for it.
      const [open] = await tx<Array<{ mac: string, request: unknown, remaining_ms: number, stored: number[] }>>`
        SELECT device_id AS mac, request, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS remaining_ms,
          ARRAY(SELECT publication FROM command_outbox o WHERE o.command_id = d.command_id)::int[] AS stored
        FROM device_commands d
        WHERE command_id = ${id}::uuid AND state = 'sent' AND published_at IS NULL AND expires_at > now() FOR UPDATE`
      if (open !== undefined) return claimed(id, open, true, open.stored)
      await expire(tx, tx`command_id = ${id}::uuid`)
      return undefined
    })
  }

  /** sent → confirmed with the reply; returns the time from acceptance to confirmation (s), undefined when it was no longer sent. */
  async confirm (id: string, reply: { topic: string, payload: string }): Promise<number | undefined> {
    return await this.#sql.begin(async tx => {
      const [row] = await tx<Array<{ seconds: number }>>`
        UPDATE device_commands SET state = 'confirmed', confirmed_at = clock_timestamp(), reply = ${tx.json(reply)}
        WHERE command_id = ${id}::uuid AND state = 'sent'
        RETURNING extract(epoch FROM confirmed_at - accepted_at)::float8 AS seconds`
      if (row === undefined) return undefined
      await tx`INSERT INTO device_command_events (command_id, state, at, detail) SELECT command_id, 'confirmed', confirmed_at, ${tx.json({ topic: reply.topic })} FROM device_commands WHERE command_id = ${id}::uuid`
      return row.seconds
    })
  }

  /** sent → failed (the broker refused or lost the publish); false when it was no longer sent. */
  async fail (id: string, reason: string): Promise<boolean> {
    return await this.#sql.begin(async tx => {
      const rows = await tx`
        UPDATE device_commands SET state = 'failed', failed_at = now(), failure = ${reason}
        WHERE command_id = ${id}::uuid AND state = 'sent' RETURNING command_id`
      if (rows.length === 0) return false
      await tx`INSERT INTO device_command_events (command_id, state, at, detail) VALUES (${id}::uuid, 'failed', now(), ${tx.json({ reason })})`
      return true
    })
  }

  /** Every accepted or sent command whose TTL has passed → expired; returns their ids and kinds. */
  async expireDue (): Promise<Array<{ id: string, kind: string }>> {
    return await this.#sql.begin(async tx => await expire(tx, tx`TRUE`))
  }

  /**
   * The sent commands still within their TTL that have a message in the outbox (to match
   * replies after a restart). One claimed but never stored cannot have been answered yet.
   */
  async openSent (): Promise<SentCommand[]> {
    const rows = await this.#sql<Array<{ id: string, mac: string, request: unknown, expires_at: Date }>>`
      SELECT command_id::text AS id, device_id AS mac, request, expires_at FROM device_commands d
      WHERE state = 'sent' AND expires_at > now() AND EXISTS (SELECT FROM command_outbox o WHERE o.command_id = d.command_id)`
    return rows.map(r => ({ id: r.id, mac: r.mac, spec: parseCommandRequest(r.request).spec, expiresAt: r.expires_at }))
  }
}

function claimed (id: string, row: { mac: string, request: unknown, remaining_ms: number }, resumed: boolean, stored: readonly number[]): ClaimedCommand | undefined {
  const spec = parseCommandRequest(row.request).spec
  const pending = publications(row.mac, spec).map((_, i) => i).filter(i => !stored.includes(i))
  if (pending.length === 0) return undefined
  return { id, mac: row.mac, spec, remainingS: Math.max(1, Math.ceil(row.remaining_ms / 1000)), resumed, pending }
}

async function expire (tx: postgres.TransactionSql, where: postgres.PendingQuery<postgres.Row[]>): Promise<Array<{ id: string, kind: string }>> {
  const rows = await tx<Array<{ id: string, kind: string }>>`
    UPDATE device_commands SET state = 'expired', expired_at = now()
    WHERE ${where} AND state IN ('accepted', 'sent') AND expires_at <= now()
    RETURNING command_id::text AS id, kind`
  if (rows.length > 0) {
    await tx`INSERT INTO device_command_events (command_id, state, at) SELECT unnest(${rows.map(r => r.id)}::uuid[]), 'expired', now()`
  }
  return [...rows]
}
