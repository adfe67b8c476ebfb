import { randomUUID } from 'node:crypto'
import type { IPublishPacket, Packet } from 'mqtt'
import type postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ErrorCodes, F2Error } from '../../../src/core/errors.ts'
import { connect } from '../../../src/storage/connection.ts'
import { CommandOutbox } from '../../../src/stages/dispatcher/outbox.ts'
import { linkProperties, type ResendStep } from '../../../src/stages/dispatcher/outbox-packet.ts'
import { roleUrl } from '../../../harness/stack.ts'
import { migratedDatabase, type MigratedDatabase } from '../../storage/helpers.ts'

/**
 * The dispatcher's outbox against the real registry database, as the dispatcher's own role:
 * the insert is the claim of a publication (two client ids cannot both store it), the steps
 * of a QoS 2 flow are recorded, and a restarted client id gets back exactly its unfinished
 * packets.
 */
let registry: MigratedDatabase
let sql: postgres.Sql

beforeAll(async () => {
  registry = await migratedDatabase('registry')
  sql = connect(roleUrl('registry', 'dispatcher', new URL(registry.url).pathname.slice(1)), { max: 2 })
}, 60_000)

afterAll(async () => {
  await sql?.end({ timeout: 2 })
  await registry?.drop()
})

/** A command as the API and the claim leave it: `state`, expiring in `ttlS`. */
async function command (state = 'sent', ttlS = 60): Promise<string> {
  const id = randomUUID()
  await registry.sql`
    INSERT INTO device_commands (command_id, device_id, kind, request, token_id, state, ttl_s, expires_at)
    VALUES (${id}::uuid, 'e4fd45f654be', 'siren', ${registry.sql.json({ kind: 'siren', connector: 2, position: 1, state: 'on' })}, 't', ${state}, 60, now() + make_interval(secs => ${ttlS}))`
  return id
}

function packet (id: string, messageId: number, publication = 0, publications = 1, payload = `p${messageId}`): IPublishPacket {
  return {
    cmd: 'publish', qos: 2, dup: false, retain: false, messageId, topic: 'cmnd/f2-e4fd45f654be/alarm-mode/J2/siren-1', payload: Buffer.from(payload),
    properties: { messageExpiryInterval: 60, userProperties: linkProperties({ commandId: id, publication, publications }) }
  }
}

const put = async (o: CommandOutbox, p: Packet): Promise<void> => { await new Promise<void>((resolve, reject) => { o.put(p, err => { if (err === undefined || err === null) resolve(); else reject(err) }) }) }
const del = async (o: CommandOutbox, messageId: number): Promise<void> => { await new Promise<void>((resolve, reject) => { o.del({ messageId }, err => { if (err === undefined || err === null) resolve(); else reject(err) }) }) }
const refusal = async (p: Promise<unknown>): Promise<unknown> => await p.then(() => 'stored', (err: unknown) => err instanceof F2Error ? [err.code, err.details?.reason] : err)

async function streamed (o: CommandOutbox): Promise<Packet[]> {
  const out: Packet[] = []
  for await (const p of o.createStream() as unknown as AsyncIterable<Packet>) out.push(p)
  return out
}

const row = async (id: string, publication = 0): Promise<Record<string, unknown> | undefined> =>
  (await registry.sql`SELECT client_id, message_id, cmd, received_at IS NOT NULL AS received, completed_at IS NOT NULL AS completed FROM command_outbox WHERE command_id = ${id}::uuid AND publication = ${publication}`)[0]
const publishedAt = async (id: string): Promise<unknown> => (await registry.sql`SELECT published_at FROM device_commands WHERE command_id = ${id}::uuid`)[0]?.published_at

describe('command outbox', () => {
  it('stores a publication once: a second client id (another dispatcher) is refused, and so is a command no longer sent', async () => {
    const a = new CommandOutbox(sql, 'dispatcher-a')
    const b = new CommandOutbox(sql, 'dispatcher-b')
    const id = await command()
    await put(a, packet(id, 1))
    expect(await refusal(put(b, packet(id, 1)))).toEqual([ErrorCodes.COMMAND_NOT_PUBLISHABLE, 'claimed'])
    expect(await refusal(put(b, packet(id, 9)))).toEqual([ErrorCodes.COMMAND_NOT_PUBLISHABLE, 'claimed'])
    // Both at once: exactly one wins.
    const raced = await command()
    const results = await Promise.all([refusal(put(a, packet(raced, 2))), refusal(put(b, packet(raced, 2)))])
    expect(results.filter(r => r === 'stored')).toHaveLength(1)
    // The loser sees `claimed`, or `conflict` (retry later) when the winner's row was not yet committed as it began.
    expect(results.filter(r => r !== 'stored')).toEqual([[ErrorCodes.COMMAND_NOT_PUBLISHABLE, expect.stringMatching(/^(claimed|conflict)$/)]])
    // Not sent (final, or still accepted) or past its TTL: never stored, so never written.
    for (const other of [await command('confirmed'), await command('accepted'), await command('sent', -1)]) {
      expect(await refusal(put(a, packet(other, 3)))).toEqual([ErrorCodes.COMMAND_NOT_PUBLISHABLE, 'not-sent'])
    }
    // A packet identifier of this session still unfinished: not a claim by anyone, tried again later.
    expect(await refusal(put(a, packet(await command(), 1)))).toEqual([ErrorCodes.COMMAND_NOT_PUBLISHABLE, 'conflict'])
    // A QoS 2 PUBLISH that names no command.
    expect(await refusal(put(a, { ...packet(id, 4), properties: {} }))).toEqual([ErrorCodes.COMMAND_NOT_PUBLISHABLE, 'unlinked'])
    expect(await row(id)).toEqual({ client_id: 'dispatcher-a', message_id: 1, cmd: 'publish', received: false, completed: false })
  })

  it('records PUBREC and PUBCOMP; the command is published once its last message completes', async () => {
    const o = new CommandOutbox(sql, 'dispatcher-c')
    const id = await command()
    await put(o, packet(id, 10, 0, 2))
    await put(o, { cmd: 'pubrel', messageId: 10 })
    expect(await row(id, 0)).toMatchObject({ cmd: 'pubrel', received: true, completed: false })
    await del(o, 10)
    expect(await row(id, 0)).toMatchObject({ completed: true })
    expect(await publishedAt(id)).toBeNull()
    // The identifier is free again once completed.
    await put(o, packet(id, 10, 1, 2))
    await put(o, { cmd: 'pubrel', messageId: 10 })
    await del(o, 10)
    expect(await publishedAt(id)).toBeInstanceOf(Date)
    expect(o.size).toBe(0)

    // A row completed while still at PUBLISH (a refusal in the PUBREC, or released unseen
    // after its TTL): done, and not published.
    const refused = await command()
    await put(o, packet(refused, 11))
    await del(o, 11)
    expect([await row(refused), await publishedAt(refused)]).toEqual([expect.objectContaining({ cmd: 'publish', completed: true }), null])
  })

  it('gives a restarted client id its own unfinished packets in order: the PUBLISH again, the PUBREL, a PUBREL alone past the TTL', async () => {
    const before = new CommandOutbox(sql, 'dispatcher-d')
    const other = new CommandOutbox(sql, 'dispatcher-e')
    const [first, second, short, done, foreign] = [await command(), await command(), await command('sent', 2), await command(), await command()]
    await put(before, packet(first, 20))
    await put(before, packet(second, 21))
    await put(before, { cmd: 'pubrel', messageId: 21 })
    await put(before, packet(short, 22))
    await put(before, packet(done, 23))
    await put(before, { cmd: 'pubrel', messageId: 23 })
    await del(before, 23)
    await put(other, packet(foreign, 20))
    // The TTL of `short` passes while the dispatcher is down.
    await new Promise(resolve => setTimeout(resolve, 2100))

    const steps: ResendStep[] = []
    const after = new CommandOutbox(sql, 'dispatcher-d', { onResend: step => steps.push(step) })
    expect(await after.load()).toBe(3)
    const packets = await streamed(after)
    expect(packets.map(p => [p.cmd, p.messageId])).toEqual([['publish', 20], ['pubrel', 21], ['pubrel', 22]])
    expect(steps).toEqual(['publish', 'release', 'expired'])
    const resent = packets[0] as IPublishPacket
    expect(resent).toMatchObject({ dup: true, qos: 2, topic: packet(first, 20).topic, payload: Buffer.from('p20') })
    // The expiry left, never more than the command's TTL (60 s at insertion).
    expect(resent.properties?.messageExpiryInterval).toBeGreaterThan(50)
    expect(resent.properties?.messageExpiryInterval).toBeLessThan(60)
    await new Promise<void>((resolve, reject) => { after.get({ messageId: 21 }, (err, p) => { if (err !== undefined) reject(err); else { expect(p).toEqual({ cmd: 'pubrel', messageId: 21 }); resolve() } }) })
    // Each stream is a fresh one: MQTT.js takes one per CONNACK.
    expect((await streamed(after)).map(p => p.messageId)).toEqual([20, 21, 22])
  }, 15_000)

  it('prunes completed rows only', async () => {
    const o = new CommandOutbox(sql, 'dispatcher-f')
    const [open, completed] = [await command(), await command()]
    await put(o, packet(open, 30))
    await put(o, packet(completed, 31))
    await put(o, { cmd: 'pubrel', messageId: 31 })
    await del(o, 31)
    expect(await o.prune(3600)).toBe(0)
    await registry.sql`UPDATE command_outbox SET completed_at = now() - interval '2 hours' WHERE command_id = ${completed}::uuid`
    expect(await o.prune(3600)).toBe(1)
    expect([await row(open), await row(completed)]).toEqual([expect.objectContaining({ completed: false }), undefined])
  })
})
