import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { X509Certificate } from 'node:crypto'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { run } from '../../src/broker/init-cli.ts'
import type { DynsecFile } from '../../src/broker/dynsec.ts'

const dir = mkdtempSync(join(tmpdir(), 'f2-broker-init-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }); vi.unstubAllEnvs() })

describe('broker-init (compose one-shot)', () => {
  it('makes the CA, the broker certificate for the compose names, and the service accounts; a second run keeps the CA and the controllers', async () => {
    const env = {
      F2_PKI_DIR: join(dir, 'pki'),
      MQTT_DATA_DIR: join(dir, 'data'),
      MQTT_CERT_HOSTS: 'mosquitto,broker.example.net,10.0.0.5',
      MQTT_BROKER_UID: String(process.getuid?.() ?? 0),
      MQTT_ADMIN_PASSWORD: 'admin-password-1',
      MQTT_CONNECTOR_PASSWORD: 'connector-password-1',
      MQTT_HEALTH_PASSWORD: 'health-password-1',
      MQTT_DISPATCHER_PASSWORD: 'dispatcher-password-1'
    }
    for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v)
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    try {
      expect(await run()).toBe(0)
      const server = new X509Certificate(readFileSync(join(dir, 'data', 'pki', 'server.crt')))
      expect(server.subjectAltName).toBe('DNS:mosquitto, DNS:broker.example.net, IP Address:10.0.0.5')
      expect(statSync(join(dir, 'data', 'pki', 'server.key')).mode & 0o777).toBe(0o600)
      expect(statSync(join(dir, 'pki', 'ca.key')).mode & 0o777).toBe(0o600)
      const file = join(dir, 'data', 'dynamic-security.json')
      const first = JSON.parse(readFileSync(file, 'utf8')) as DynsecFile
      expect(first.clients.map(c => c.username)).toEqual(['f2-admin', 'f2-connector', 'f2-health', 'f2-dispatcher'])
      expect(readFileSync(file, 'utf8')).not.toContain('password-1')

      const ca = readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8')
      writeFileSync(file, JSON.stringify({ ...first, clients: [...first.clients, { username: 'f2-aabbccddeeff', roles: [] }] }))
      vi.stubEnv('MQTT_ADMIN_PASSWORD', 'admin-password-2')
      expect(await run()).toBe(0)
      const second = JSON.parse(readFileSync(file, 'utf8')) as DynsecFile
      expect(second.clients.map(c => c.username)).toEqual(['f2-admin', 'f2-connector', 'f2-health', 'f2-dispatcher', 'f2-aabbccddeeff'])
      expect(second.clients[0]?.password).not.toBe(first.clients[0]?.password)
      expect(readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8')).toBe(ca)

      vi.stubEnv('MQTT_HEALTH_PASSWORD', 'short')
      const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
      try { expect(await run()).toBe(1) } finally { err.mockRestore() }
    } finally {
      out.mockRestore()
    }
  })
})
