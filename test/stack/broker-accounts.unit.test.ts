import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { brokerEnv } from '../../src/stack/broker-accounts.ts'
import { readStackSecret } from '../../src/stack/secrets.ts'
import { stackConfig, stackPaths } from '../../src/stack/config.ts'
import { services } from '../../src/stack/services.ts'

const root = mkdtempSync(join(tmpdir(), 'f2-accounts-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('broker accounts of the native stack', () => {
  const paths = stackPaths(root)
  const cfg = stackConfig({ F2_STACK_PORT_OFFSET: '10000' })

  it('shifts the controller listeners with the offset and keeps them on loopback unless told', () => {
    expect([cfg.mqttPort, cfg.mqttsPort, cfg.mqttsPasswordPort, cfg.mqttDeviceBind]).toEqual([11883, 18883, 18884, '127.0.0.1'])
    expect(stackConfig({ F2_MQTT_DEVICE_BIND: '0.0.0.0' }).mqttDeviceBind).toBe('0.0.0.0')
    expect(() => stackConfig({ F2_MQTT_DEVICE_BIND: 'everywhere' })).toThrow()
  })

  it('gives each service its own account, with a password generated once and kept 0600 under .stack/secrets', () => {
    const connector = brokerEnv(cfg, paths, 'connector')
    expect(connector).toMatchObject({ MQTT_USERNAME: 'f2-connector', MQTT_TLS_PASSWORD_PORT: '18884', MQTT_CA_FILE: join(root, '.stack', 'pki', 'ca.crt') })
    expect(connector.MQTT_PASSWORD).toMatch(/^[\w-]{32}$/)
    expect(brokerEnv(cfg, paths, 'connector').MQTT_PASSWORD).toBe(connector.MQTT_PASSWORD)
    expect(statSync(join(root, '.stack', 'secrets', 'mqtt-connector')).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(root, '.stack', 'secrets', 'mqtt-connector'), 'utf8').trim()).toBe(connector.MQTT_PASSWORD)
    const health = brokerEnv(cfg, paths, 'health')
    expect(health).toMatchObject({ MQTT_USERNAME: 'f2-health', MQTT_LOG_FILE: join(root, '.stack', 'logs', 'mosquitto.log') })
    expect(health.MQTT_PASSWORD).not.toBe(connector.MQTT_PASSWORD)
    const admin = brokerEnv(cfg, paths, 'admin')
    expect(admin).toMatchObject({ MQTT_ADMIN_USERNAME: 'f2-admin' })
    expect(admin).not.toHaveProperty('MQTT_USERNAME')
    expect(brokerEnv(cfg, paths, undefined)).not.toHaveProperty('MQTT_PASSWORD')
    expect(readStackSecret(paths, 'mqtt-nothing')).toBeUndefined()
  })

  it('names the account each supervised service connects with', () => {
    expect(Object.fromEntries(services.map(s => [s.name, s.mqtt]))).toMatchObject({ health: 'health', connector: 'connector', processor: undefined, sink: undefined })
    const sim = services.find(s => s.name === 'simulator')
    if (sim !== undefined) expect(sim.mqtt).toBe('admin')
  })
})
