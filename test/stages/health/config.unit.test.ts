import { describe, expect, it } from 'vitest'
import { loadHealthConfig } from '../../../src/stages/health/config.ts'

// Passwords have no default; these stand for the ones an operator sets.
const PASSWORDS = { POSTGRES_PASSWORD: 'p1', TIMESCALE_PASSWORD: 'p2' }

describe('loadHealthConfig', () => {
  it('defaults to the native stack, on loopback, as the read-only roles', () => {
    const c = loadHealthConfig(PASSWORDS)
    expect(c.host).toBe('127.0.0.1')
    expect(c.port).toBe(8000)
    expect(c.registry).toMatchObject({ user: 'iot_reader', password: 'p1', database: 'device_params' })
    expect(c.timeseries).toMatchObject({ user: 'ts_reader', password: 'p2', database: 'timeseries' })
    expect(c.mqtt).toEqual({ host: '127.0.0.1', port: 1883 })
    expect(c.kafka.brokers).toEqual(['127.0.0.1:9092'])
    expect(c.timeseries.port).toBe(5433)
    expect(c.services.map(s => s.name)).toEqual(['simulator', 'connector', 'processor', 'sink', 'fleet', 'dispatcher', 'api'])
    expect(c.lag).toEqual([{ group: 'iot-processor', topic: 'raw_iot_data' }, { group: 'iot-sink', topic: 'decoded_iot_data' }, { group: 'iot-fleet-state', topic: 'device_activity' }])
    expect(Object.isFrozen(c)).toBe(true)
  })

  it('takes compose addresses from the environment', () => {
    const c = loadHealthConfig({
      ...PASSWORDS,
      HEALTH_HOST: '0.0.0.0',
      MQTT_BROKER: 'mosquitto',
      KAFKA_BOOTSTRAP_SERVERS: 'kafka:29092',
      TIMESCALE_HOST: 'timescaledb',
      TIMESCALE_PORT: '5432',
      PROMETHEUS_URL: 'http://prometheus:9090/',
      HEALTH_SERVICES: 'connector=http://connector:9402/, sink=http://sink:9404',
      HEALTH_LAG_GROUPS: 'g1:t1'
    })
    expect(c.host).toBe('0.0.0.0')
    expect(c.mqtt.host).toBe('mosquitto')
    expect(c.kafka.brokers).toEqual(['kafka:29092'])
    expect(c.timeseries).toMatchObject({ host: 'timescaledb', port: 5432 })
    expect(c.prometheusUrl).toBe('http://prometheus:9090')
    expect(c.services).toEqual([{ name: 'connector', url: 'http://connector:9402' }, { name: 'sink', url: 'http://sink:9404' }])
    expect(c.lag).toEqual([{ group: 'g1', topic: 't1' }])
  })

  it('reports every problem at once', () => {
    let message = ''
    try {
      loadHealthConfig({ HEALTH_PORT: 'x', HEALTH_SERVICES: 'nourl', HEALTH_LAG_GROUPS: 'nocolon' })
    } catch (err) {
      message = (err as Error).message
    }
    expect(message).toMatch(/HEALTH_PORT/)
    expect(message).toMatch(/HEALTH_SERVICES/)
    expect(message).toMatch(/HEALTH_LAG_GROUPS/)
  })

  it('refuses a probe timeout that is not shorter than the interval', () => {
    expect(() => loadHealthConfig({ ...PASSWORDS, HEALTH_PROBE_INTERVAL_MS: '1000', HEALTH_PROBE_TIMEOUT_MS: '1000' })).toThrow(/HEALTH_PROBE_TIMEOUT_MS/)
  })

  it.each([{}, { POSTGRES_PASSWORD: '' }, { TIMESCALE_PASSWORD: 'x' }])('refuses to start without both database passwords (%j): no default password', env => {
    let error: unknown
    try {
      loadHealthConfig(env)
    } catch (err) {
      error = err
    }
    expect(error).toMatchObject({ code: 'F2_CONFIG_INVALID' })
    const message = (error as Error).message
    if (!('TIMESCALE_PASSWORD' in env)) expect(message).toMatch(/TIMESCALE_PASSWORD: required/)
    expect(message).toMatch(/POSTGRES_PASSWORD: required/)
  })
})
