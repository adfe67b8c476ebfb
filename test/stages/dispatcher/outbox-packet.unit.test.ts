import type { IPublishPacket, Packet } from 'mqtt'
import { describe, expect, it } from 'vitest'
import { linkProperties, parseLink, resendPacket, type CommandLink, type OutboxEntry } from '../../../src/stages/dispatcher/outbox-packet.ts'

const ID = '0b7e8c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b'

const publish = (userProperties: Record<string, string | string[]> | undefined): Packet => ({
  cmd: 'publish', qos: 2, dup: false, retain: false, messageId: 7, topic: 'cmnd/f2-e4fd45f654be/x', payload: Buffer.from('1'),
  ...(userProperties === undefined ? {} : { properties: { userProperties } })
})

describe('linkProperties / parseLink', () => {
  it.each<CommandLink>([
    { commandId: ID, publication: 0, publications: 1 },
    { commandId: ID, publication: 1, publications: 2 }
  ])('round-trips %j through the PUBLISH user properties', link => {
    expect(parseLink(publish(linkProperties(link)))).toEqual(link)
  })

  it.each([
    ['no properties', undefined],
    ['no publication', { 'f2-command-id': ID }],
    ['not a uuid', { 'f2-command-id': 'x', 'f2-publication': '0/1' }],
    ['an upper-case uuid', { 'f2-command-id': ID.toUpperCase(), 'f2-publication': '0/1' }],
    ['index past the count', { 'f2-command-id': ID, 'f2-publication': '1/1' }],
    ['not index/count', { 'f2-command-id': ID, 'f2-publication': '1' }],
    ['a repeated property', { 'f2-command-id': [ID, ID], 'f2-publication': '0/1' }]
  ])('links nothing with %s', (_, props) => {
    expect(parseLink(publish(props))).toBeUndefined()
  })

  it('links nothing but a PUBLISH', () => {
    expect(parseLink({ cmd: 'pubrel', messageId: 7 })).toBeUndefined()
  })
})

describe('resendPacket', () => {
  const entry = (over: Partial<OutboxEntry> = {}): OutboxEntry => ({
    messageId: 42, link: { commandId: ID, publication: 1, publications: 2 }, cmd: 'publish', topic: 't', payload: Buffer.from('p'), expiresAtMs: 100_000, ...over
  })

  it('resends a PUBLISH with DUP, its identifier, topic and payload, and the whole seconds left of its TTL', () => {
    const { step, packet } = resendPacket(entry(), 90_500)
    expect(step).toBe('publish')
    expect(packet).toEqual({
      cmd: 'publish', messageId: 42, qos: 2, dup: true, retain: false, topic: 't', payload: Buffer.from('p'),
      properties: { messageExpiryInterval: 9, userProperties: linkProperties({ commandId: ID, publication: 1, publications: 2 }) }
    })
  })

  it('never extends the TTL: the expiry rounds down', () => {
    for (let now = 0; now < 100_000; now += 333) {
      const { packet } = resendPacket(entry(), now)
      if (packet.cmd === 'publish') expect(now + ((packet as IPublishPacket).properties?.messageExpiryInterval ?? Infinity) * 1000).toBeLessThanOrEqual(100_000)
    }
  })

  it('releases (PUBREL) a PUBLISH whose TTL has less than a second left, and one the broker already acknowledged', () => {
    expect(resendPacket(entry(), 99_001)).toEqual({ step: 'expired', packet: { cmd: 'pubrel', messageId: 42 } })
    expect(resendPacket(entry(), 200_000)).toEqual({ step: 'expired', packet: { cmd: 'pubrel', messageId: 42 } })
    expect(resendPacket(entry({ cmd: 'pubrel' }), 0)).toEqual({ step: 'release', packet: { cmd: 'pubrel', messageId: 42 } })
  })
})
