import type postgres from 'postgres'
import { parseCommandRequest, type CommandSpec } from '../../core/command.ts'

/**
 * A command the dispatcher has claimed: what to publish and how long it may still live.
 * `again`: claimed earlier by a dispatcher that stopped before the broker acknowledged its
 * publication (published again now: at least once, see `claim`).
 */
export interface ClaimedCommand { id: string, mac: string, spec: CommandSpec, remainingS: number, again: boolean }
export interface SentCommand { id: string, mac: string, spec: CommandSpec, expiresAt: Date }

/**
 * The dispatcher's state changes on the command tables (sql/registry/007_device_commands.sql).
 * Every change is a conditional UPDATE on the current state with its event in the same
 * transaction, so two dispatchers, or one restarted after kill -9, can never both move a
 * command out of a state: `claim` wins once per command, which is what keeps a command from
 * being published twice by two dispatchers; a command whose publication was not acknowledged
 * before its dispatcher stopped is published again by the next (see `claim`).
 */
export class DispatcherStore {
  readonly #sql: postgres.Sql

  constructor (sql: postgres.Sql) {
    this.#sql = sql
  }

  /**
   * accepted → sent, only while the TTL runs; undefined when the command was already claimed
   * and published, is final, or has expired (then it is marked expired here, never sent). The
   * caller publishes only what this returns, then records the broker's acknowledgement
   * (`published`). A command that is `sent` without that record was claimed by a dispatcher
   * that stopped (kill -9, crash) before the broker acknowledged it: it is returned again
   * (`again: true`) to the dispatcher that reads its record again, so a crash never loses a
   * command. Its message may have reached the controller before the crash: between the
   * acknowledgement and its record, delivery is at least once.
   */
  async claim (id: string): Promise<ClaimedCommand | undefined> {
    return await this.#sql.begin(async tx => {
      const [row] = await tx<Array<{ mac: string, request: unknown, remaining_ms: number }>>`
        UPDATE device_commands SET state = 'sent', sent_at = now()
        WHERE command_id = ${id}::uuid AND state = 'accepted' AND expires_at > now()
        RETURNING device_id AS mac, request, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS remaining_ms`
      if (row !== undefined) {
        await tx`INSERT INTO device_command_events (command_id, state, at) SELECT command_id, 'sent', sent_at FROM device_commands WHERE command_id = ${id}::uuid`
        return claimed(id, row, false)
      }
      // Locked until this transaction ends: a confirmation or expiry waits for it.
      const [open] = await tx<Array<{ mac: string, request: unknown, remaining_ms: number }>>`
        SELECT device_id AS mac, request, (extract(epoch FROM expires_at - now()) * 1000)::float8 AS remaining_ms FROM device_commands
        WHERE command_id = ${id}::uuid AND state = 'sent' AND published_at IS NULL AND expires_at > now() FOR UPDATE`
      if (open !== undefined) return claimed(id, open, true)
      await expire(tx, tx`command_id = ${id}::uuid`)
      return undefined
    })
  }

  /** Records that the broker acknowledged the command's publication (whatever its state by now). */
  async published (id: string): Promise<void> {
    await this.#sql`UPDATE device_commands SET published_at = now() WHERE command_id = ${id}::uuid AND published_at IS NULL`
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

  /** The sent commands still within their TTL (to match replies after a restart). */
  async openSent (): Promise<SentCommand[]> {
    const rows = await this.#sql<Array<{ id: string, mac: string, request: unknown, expires_at: Date }>>`
      SELECT command_id::text AS id, device_id AS mac, request, expires_at FROM device_commands
      WHERE state = 'sent' AND expires_at > now()`
    return rows.map(r => ({ id: r.id, mac: r.mac, spec: parseCommandRequest(r.request).spec, expiresAt: r.expires_at }))
  }
}

function claimed (id: string, row: { mac: string, request: unknown, remaining_ms: number }, again: boolean): ClaimedCommand {
  return { id, mac: row.mac, spec: parseCommandRequest(row.request).spec, remainingS: Math.max(1, Math.ceil(row.remaining_ms / 1000)), again }
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
