import type { IPublishPacket, Packet } from 'mqtt'

type IPubrelPacket = Extract<Packet, { cmd: 'pubrel' }>

/**
 * How a command's MQTT messages are tied to their outbox rows (src/stages/dispatcher/outbox.ts),
 * and what is resent from a row after a (re)connection. Pure: no I/O, no clock.
 *
 * The link travels as two MQTT v5 user properties on the PUBLISH, which MQTT.js hands to the
 * outgoing store unchanged: `f2-command-id` (the command's id) and `f2-publication`
 * (`<index>/<count>` among the command's messages). The broker forwards them to the
 * controller, which ignores user properties it does not know (f2-protocol.md reads only the
 * topic and payload).
 */

export const COMMAND_ID_PROPERTY = 'f2-command-id'
export const PUBLICATION_PROPERTY = 'f2-publication'

export interface CommandLink { commandId: string, publication: number, publications: number }

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const PUBLICATION_RE = /^(\d{1,4})\/(\d{1,4})$/

/** The user properties that link one of a command's MQTT messages to it. */
export function linkProperties (link: CommandLink): Record<string, string> {
  return { [COMMAND_ID_PROPERTY]: link.commandId, [PUBLICATION_PROPERTY]: `${link.publication}/${link.publications}` }
}

/** The command a PUBLISH carries, from its user properties; undefined when it names none (or not in this form). */
export function parseLink (packet: Packet): CommandLink | undefined {
  if (packet.cmd !== 'publish') return undefined
  const props = packet.properties?.userProperties
  if (props === undefined) return undefined
  const id = props[COMMAND_ID_PROPERTY]
  const pub = props[PUBLICATION_PROPERTY]
  if (typeof id !== 'string' || typeof pub !== 'string' || !UUID_RE.test(id)) return undefined
  const m = PUBLICATION_RE.exec(pub)
  if (m === null) return undefined
  const publication = Number(m[1])
  const publications = Number(m[2])
  if (publication >= publications) return undefined
  return { commandId: id, publication, publications }
}

/** An unfinished QoS 2 publication as the outbox keeps it. */
export interface OutboxEntry {
  messageId: number
  link: CommandLink
  /** `publish`: no PUBREC yet; `pubrel`: the broker acknowledged receipt. */
  cmd: 'publish' | 'pubrel'
  topic: string
  payload: Buffer
  /** The command's expires_at (ms since the epoch). */
  expiresAtMs: number
}

/**
 * How a row is resumed: `publish` again (DUP; a broker that holds the identifier drops the
 * repeat), `release` (PUBREL: the broker had it), or `expired`: a PUBLISH whose command's TTL
 * has passed is not offered again but released (PUBREL), so a broker that holds it delivers it
 * only within the message expiry it came with, and one that never got it delivers nothing.
 */
export type ResendStep = 'publish' | 'release' | 'expired'

/** The packet that resumes `entry` at `nowMs`: the TTL left is recomputed, never extended. */
export function resendPacket (entry: OutboxEntry, nowMs: number): { step: ResendStep, packet: IPublishPacket | IPubrelPacket } {
  const remainingS = Math.floor((entry.expiresAtMs - nowMs) / 1000)
  if (entry.cmd === 'pubrel' || remainingS < 1) {
    return { step: entry.cmd === 'pubrel' ? 'release' : 'expired', packet: { cmd: 'pubrel', messageId: entry.messageId } }
  }
  return {
    step: 'publish',
    packet: {
      cmd: 'publish',
      messageId: entry.messageId,
      qos: 2,
      dup: true,
      retain: false,
      topic: entry.topic,
      payload: entry.payload,
      properties: { messageExpiryInterval: remainingS, userProperties: linkProperties(entry.link) }
    }
  }
}
