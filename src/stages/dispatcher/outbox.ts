import { Readable } from 'node:stream'
import type { IStore, Packet } from 'mqtt'
import type postgres from 'postgres'
import { ErrorCodes, F2Error } from '../../core/errors.ts'
import { parseLink, resendPacket, type OutboxEntry, type ResendStep } from './outbox-packet.ts'

type DoneCallback = Parameters<IStore['put']>[1]
type PacketCallback = Parameters<IStore['del']>[1]

export interface OutboxOptions {
  /** Each stored publication offered again at a (re)connection, by how it is resumed. */
  onResend?: (step: ResendStep) => void
  /** A database error that is being retried (PUBREC and PUBCOMP records are retried until they succeed). */
  onRetry?: (err: unknown) => void
  now?: () => number
  retryMinMs?: number
  retryMaxMs?: number
}

/**
 * The dispatcher's MQTT outgoing store (MQTT.js `outgoingStore`), kept in PostgreSQL
 * (sql/registry/009_command_outbox.sql) and mirrored in memory for the session of one client
 * id. MQTT.js calls `put` and waits for its callback before it writes a PUBLISH or a PUBREL
 * to the socket, `put`s the PUBREL in place of the PUBLISH on PUBREC, `del`s on PUBCOMP (or a
 * refusal), and at every CONNACK resends what `createStream` yields, in order, before any new
 * publication. With QoS 2 and the broker's persistent session this makes the dispatcher →
 * broker hop exactly once across a kill -9: a row exists before its packet can reach the
 * socket, and a resent PUBLISH carries the identifier the broker still holds until PUBREL.
 *
 * - `put` of a new PUBLISH inserts its row, linked to its command by the packet's user
 *   properties (outbox-packet.ts), only while the command is `sent` and within its TTL, and
 *   at most once per (command, publication): the insert is the claim of the publication. A
 *   refusal is an F2_COMMAND_NOT_PUBLISHABLE error (`details.reason`: `claimed`, `not-sent`,
 *   `unlinked`, or `conflict`, retryable) and nothing reaches the socket. A database
 *   error is passed on as it is (the caller retries later; no row, so nothing was written).
 * - `put` of a PUBREL and `del` are retried until the database takes them: the flow waits
 *   (MQTT.js keeps the packet identifier until `del` answers) rather than forget a state.
 * - `del` after a PUBREL (PUBCOMP) also records the command's `published_at` when it was its
 *   last message; `del` of a row still at PUBLISH (a refusal in the PUBREC, or an expired
 *   publication released unseen) completes it without that.
 * - `createStream` yields this client id's unfinished rows in the order they were stored:
 *   the PUBLISH again (DUP, expiry recomputed from the command's expires_at), the PUBREL, or
 *   for a command past its TTL only a PUBREL (outbox-packet.ts `resendPacket`).
 *
 * `load` must have run before the client connects. Only one process may use a client id at a
 * time (the broker enforces it for the session; the rows follow it).
 */
export class CommandOutbox implements IStore {
  readonly #sql: postgres.Sql
  readonly #clientId: string
  readonly #options: OutboxOptions
  readonly #entries = new Map<number, OutboxEntry>()
  #closed = false

  constructor (sql: postgres.Sql, clientId: string, options: OutboxOptions = {}) {
    this.#sql = sql
    this.#clientId = clientId
    this.#options = options
  }

  /** Reads this client id's unfinished publications (a previous run's, after a crash). */
  async load (): Promise<number> {
    const rows = await this.#sql<Array<{ message_id: number, command_id: string, publication: number, publications: number, cmd: 'publish' | 'pubrel', topic: string, payload: Buffer, expires_at: Date }>>`
      SELECT o.message_id, o.command_id::text AS command_id, o.publication, o.publications, o.cmd, o.topic, o.payload, d.expires_at
      FROM command_outbox o JOIN device_commands d USING (command_id)
      WHERE o.client_id = ${this.#clientId} AND o.completed_at IS NULL
      ORDER BY o.outbox_id`
    this.#entries.clear()
    for (const r of rows) {
      this.#entries.set(r.message_id, {
        messageId: r.message_id,
        link: { commandId: r.command_id, publication: r.publication, publications: r.publications },
        cmd: r.cmd,
        topic: r.topic,
        payload: r.payload,
        expiresAtMs: r.expires_at.getTime()
      })
    }
    return rows.length
  }

  /** The unfinished publications held now. */
  get size (): number {
    return this.#entries.size
  }

  put (packet: Packet, cb: DoneCallback): this {
    const done = (err?: unknown): void => { cb(err === undefined ? undefined : err as Error) }
    if (packet.cmd === 'publish') this.#insert(packet).then(() => { done() }, done)
    else if (packet.cmd === 'pubrel') this.#retry(async () => { await this.#received(packet.messageId ?? 0) }).then(() => { done() }, done)
    else done(new Error(`the command outbox stores PUBLISH and PUBREL packets, not ${packet.cmd}`))
    return this
  }

  del (packet: Pick<Packet, 'messageId'>, cb: PacketCallback): this {
    const messageId = packet.messageId ?? 0
    this.#retry(async () => { await this.#complete(messageId) }).then(() => {
      const entry = this.#entries.get(messageId)
      this.#entries.delete(messageId)
      cb(undefined, entry === undefined ? undefined : resendPacket(entry, this.#now()).packet)
    }, (err: unknown) => { cb(err as Error) })
    return this
  }

  get (packet: Pick<Packet, 'messageId'>, cb: PacketCallback): this {
    const entry = this.#entries.get(packet.messageId ?? 0)
    if (entry === undefined) cb(new Error('missing packet'))
    else cb(undefined, resendPacket(entry, this.#now()).packet)
    return this
  }

  /** Everything is pushed before this returns: MQTT.js reads the first packet at once. */
  createStream (): ReturnType<IStore['createStream']> {
    const now = this.#now()
    const stream = new Readable({ objectMode: true, read () {} })
    for (const entry of this.#entries.values()) {
      const { step, packet } = resendPacket(entry, now)
      this.#options.onResend?.(step)
      stream.push(packet)
    }
    stream.push(null)
    return stream as unknown as ReturnType<IStore['createStream']>
  }

  /** Stops retrying; the rows stay for the next run. The database connection is the caller's. */
  close (cb: DoneCallback): void {
    this.#closed = true
    cb()
  }

  /**
   * Deletes completed rows older than `olderThanS` (at least the longest TTL: until a command
   * has expired, its completed rows are what tells a re-read of its record that it was
   * written). Returns how many.
   */
  async prune (olderThanS: number): Promise<number> {
    const rows = await this.#sql`DELETE FROM command_outbox WHERE completed_at < now() - make_interval(secs => ${olderThanS})`
    return rows.count
  }

  async #insert (packet: Packet & { cmd: 'publish' }): Promise<void> {
    const link = parseLink(packet)
    if (link === undefined || packet.qos !== 2 || packet.messageId === undefined) {
      throw new F2Error(ErrorCodes.COMMAND_NOT_PUBLISHABLE, 'a QoS 2 PUBLISH without its command (user properties) cannot be stored', { details: { reason: 'unlinked', topic: packet.topic } })
    }
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload)
    // One statement: the command must still be sent and within its TTL, and the
    // (command, publication) pair free; `inserted` = 0 with a command row = stored already
    // (`taken`: seen in the statement's snapshot; a concurrent insert it waited for is not),
    // or the packet identifier is still in use in this session.
    const [row] = await this.#sql<Array<{ expires_at: Date, inserted: number, taken: boolean }>>`
      WITH c AS (
        SELECT command_id, expires_at FROM device_commands
        WHERE command_id = ${link.commandId}::uuid AND state = 'sent' AND expires_at > now()
      ), ins AS (
        INSERT INTO command_outbox (client_id, message_id, command_id, publication, publications, topic, payload)
        SELECT ${this.#clientId}, ${packet.messageId}, command_id, ${link.publication}, ${link.publications}, ${packet.topic}, ${payload} FROM c
        ON CONFLICT DO NOTHING
        RETURNING 1
      )
      SELECT c.expires_at, (SELECT count(*) FROM ins)::int AS inserted,
        EXISTS (SELECT FROM command_outbox o WHERE o.command_id = c.command_id AND o.publication = ${link.publication}) AS taken
      FROM c`
    if (row === undefined || row.inserted === 0) {
      // Not `claimed` when no row of it was visible: the caller tries again later, and then
      // finds the row if another dispatcher stored it meanwhile.
      const reason = row === undefined ? 'not-sent' : row.taken ? 'claimed' : 'conflict'
      const why = { 'not-sent': 'no longer sent or past its TTL', claimed: 'already stored by a dispatcher', conflict: `packet identifier ${packet.messageId} still in use, or the publication being stored by another dispatcher at this instant` }[reason]
      throw new F2Error(ErrorCodes.COMMAND_NOT_PUBLISHABLE, `command ${link.commandId} publication ${link.publication}: ${why}`, {
        details: { reason, commandId: link.commandId, publication: link.publication }, retryable: reason === 'conflict'
      })
    }
    this.#entries.set(packet.messageId, { messageId: packet.messageId, link, cmd: 'publish', topic: packet.topic, payload, expiresAtMs: row.expires_at.getTime() })
  }

  async #received (messageId: number): Promise<void> {
    await this.#sql`
      UPDATE command_outbox SET cmd = 'pubrel', received_at = now()
      WHERE client_id = ${this.#clientId} AND message_id = ${messageId} AND completed_at IS NULL`
    const entry = this.#entries.get(messageId)
    if (entry !== undefined) entry.cmd = 'pubrel'
  }

  async #complete (messageId: number): Promise<void> {
    // The broker acknowledged receipt (PUBREC, the row is at PUBREL) and completed the flow:
    // the command is published once its last message is.
    await this.#sql`
      WITH done AS (
        UPDATE command_outbox SET completed_at = now()
        WHERE client_id = ${this.#clientId} AND message_id = ${messageId} AND completed_at IS NULL
        RETURNING command_id, publication, publications, cmd
      )
      UPDATE device_commands d SET published_at = now() FROM done
      WHERE d.command_id = done.command_id AND done.cmd = 'pubrel' AND done.publication = done.publications - 1 AND d.published_at IS NULL`
  }

  async #retry (op: () => Promise<void>): Promise<void> {
    let delay = this.#options.retryMinMs ?? 50
    for (;;) {
      try {
        await op()
        return
      } catch (err) {
        if (this.#closed) throw new F2Error(ErrorCodes.DB_UNAVAILABLE, 'the command outbox was closed while it retried', { cause: err, retryable: true })
        this.#options.onRetry?.(err)
        await new Promise(resolve => setTimeout(resolve, delay))
        delay = Math.min(delay * 2, this.#options.retryMaxMs ?? 2000)
      }
    }
  }

  #now (): number {
    return (this.#options.now ?? Date.now)()
  }
}
