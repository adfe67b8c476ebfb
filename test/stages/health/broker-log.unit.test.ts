import { describe, expect, it } from 'vitest'
import { parseBrokerLine } from '../../../src/stages/health/broker-log.ts'

describe('broker log lines', () => {
  it.each([
    ['2026-11-30T03:32:32: New connection from 127.0.0.1:58546 on port 43561.', { type: 'accepted', address: '127.0.0.1:58546', port: 43561 }],
    ["2026-11-30T03:32:32: New client connected from 10.0.0.5:51686 as f2-aabbccddeeff (p5, c1, k60, u'f2-aabbccddeeff').", { type: 'connected', address: '10.0.0.5:51686', clientId: 'f2-aabbccddeeff' }],
    ['2026-11-30T03:32:32: Client <unknown> disconnected, not authorised.', { type: 'event', kind: 'auth_failed', clientId: null }],
    ['1796009537: Client mqttjs_dd7f4fd3 disconnected, not authorised.', { type: 'event', kind: 'auth_failed', clientId: 'mqttjs_dd7f4fd3' }],
    ['2026-11-30T03:32:32: OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed', { type: 'event', kind: 'tls_failed', clientId: null, detail: 'certificate verify failed' }],
    ['2026-11-30T03:32:32: OpenSSL Error[0]: error:0A0000C7:SSL routines::peer did not return a certificate', { type: 'event', kind: 'tls_failed', clientId: null, detail: 'peer did not return a certificate' }],
    ['2026-11-30T03:32:32: Client f2-112233445566 been disconnected by administrative action.', { type: 'event', kind: 'revoked', clientId: 'f2-112233445566' }],
    ["2026-11-30T03:32:32: Denied PUBLISH from f2-aabbccddeeff (d0, q1, r0, m3, 'tele/f2-112233445566/x', ... (1 bytes))", { type: 'event', kind: 'publish_denied', clientId: 'f2-aabbccddeeff', detail: 'tele/f2-112233445566/x' }],
    ['2026-11-30T03:32:32: Client f2-aabbccddeeff disconnected.', { type: 'closed', clientId: 'f2-aabbccddeeff' }]
  ])('%s', (line, expected) => {
    expect(parseBrokerLine(line)).toEqual(expected)
  })

  it('ignores the rest, including the end of a TLS connection closed by its client', () => {
    for (const line of [
      '2026-11-30T03:32:32: OpenSSL Error[0]: error:0A000126:SSL routines::unexpected eof while reading',
      '2026-11-30T03:32:32: Client <unknown> disconnected: Protocol error.',
      '2026-11-30T03:32:32: Saving in-memory database to /x/mosquitto.db.',
      'dynsec: f2-admin-1/f2-admin | deleteClient | username=f2-112233445566',
      ''
    ]) expect(parseBrokerLine(line), line).toBeUndefined()
  })
})
