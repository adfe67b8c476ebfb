import { hostname } from 'node:os'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { loadConfig } from '../../../src/adapters/config.ts'
import { kafkaFields, pickKafka } from '../../../src/adapters/connections/kafka.ts'
import { mqttFields, pickMqtt } from '../../../src/adapters/connections/mqtt.ts'
import { databaseFromEnv, pickPostgres, postgresEnv, postgresFields, postgresUrl } from '../../../src/adapters/connections/postgres.ts'
import { STACK_PORTS, stackPorts } from '../../../src/adapters/connections/stack-ports.ts'
import { ErrorCodes, F2Error } from '../../../src/core/errors.ts'
import { stackConfig } from '../../../src/stack/config.ts'
import { loadFleetConfig } from '../../../src/stages/fleet/config.ts'
import { loadHealthConfig } from '../../../src/stages/health/config.ts'
import { loadProcessorConfig } from '../../../src/stages/processor/config.ts'
import { loadSinkConfig } from '../../../src/stages/sink/config.ts'

const kafka = (env: Record<string, string>): string[] => pickKafka(loadConfig('t', z.object(kafkaFields), env))
const mqtt = (env: Record<string, string>) => pickMqtt(loadConfig('t', z.object(mqttFields), env))

function problems (load: () => unknown): string[] {
  try {
    load()
  } catch (err) {
    expect(err).toBeInstanceOf(F2Error)
    expect((err as F2Error).code).toBe(ErrorCodes.CONFIG_INVALID)
    return (err as F2Error & { details: { problems: string[] } }).details.problems
  }
  throw new Error('expected a configuration error')
}

describe('one port table', () => {
  it('the stack and every default address follow F2_STACK_PORT_OFFSET', () => {
    const cfg = stackConfig({ F2_STACK_PORT_OFFSET: '12000' })
    const ports = stackPorts(12000)
    expect([cfg.mqttPort, cfg.kafkaPort, cfg.registry.port, cfg.timeseries.port, cfg.prometheusPort]).toEqual([ports.mqtt, ports.kafka, ports.registry, ports.timeseries, ports.prometheus])
    expect(ports.kafka).toBe(STACK_PORTS.kafka + 12000)
    expect(kafka({ F2_STACK_PORT_OFFSET: '12000' })).toEqual([`127.0.0.1:${ports.kafka}`])
    expect(mqtt({ F2_STACK_PORT_OFFSET: '12000' })).toMatchObject({ url: `mqtt://127.0.0.1:${ports.mqtt}`, port: ports.mqtt })
    const health = loadHealthConfig({ F2_STACK_PORT_OFFSET: '12000', POSTGRES_PASSWORD: 'a', TIMESCALE_PASSWORD: 'b' })
    expect([health.registry.port, health.timeseries.port, health.mqtt.port, health.kafka.brokers, health.prometheusUrl])
      .toEqual([ports.registry, ports.timeseries, ports.mqtt, [`127.0.0.1:${ports.kafka}`], `http://127.0.0.1:${ports.prometheus}`])
  })

  it('an explicit address wins over the offset', () => {
    expect(kafka({ F2_STACK_PORT_OFFSET: '12000', KAFKA_BOOTSTRAP_SERVERS: 'kafka:29092, other:9092' })).toEqual(['kafka:29092', 'other:9092'])
    expect(mqtt({ F2_STACK_PORT_OFFSET: '12000', MQTT_BROKER: 'mosquitto', MQTT_PORT: '1883' })).toMatchObject({ url: 'mqtt://mosquitto:1883', host: 'mosquitto', port: 1883 })
    expect(mqtt({ MQTT_BROKER: 'mqtts://broker.example:8883' })).toMatchObject({ url: 'mqtts://broker.example:8883', host: 'broker.example', port: 8883 })
  })

  it('a bad port or offset is a config error naming the variable, never a silent default', () => {
    expect(problems(() => kafka({ KAFKA_BOOTSTRAP_SERVERS: 'kafka' }))[0]).toMatch(/^KAFKA_BOOTSTRAP_SERVERS/)
    expect(problems(() => kafka({ KAFKA_BOOTSTRAP_SERVERS: 'kafka:99999' }))[0]).toMatch(/KAFKA_BOOTSTRAP_SERVERS.*range/)
    expect(problems(() => mqtt({ MQTT_PORT: 'abc' }))[0]).toMatch(/^MQTT_PORT/)
    expect(problems(() => mqtt({ MQTT_PORT: '70000' }))[0]).toMatch(/^MQTT_PORT/)
    expect(problems(() => kafka({ F2_STACK_PORT_OFFSET: 'x' }))[0]).toMatch(/^F2_STACK_PORT_OFFSET/)
    expect(problems(() => stackConfig({ F2_STACK_PORT_OFFSET: '-1' }))[0]).toMatch(/^F2_STACK_PORT_OFFSET/)
  })
})

describe('PostgreSQL connections', () => {
  it("a database's defaults, and the seed's variables", () => {
    const read = (env: Record<string, string>) => pickPostgres('timeseries', loadConfig('t', z.object(postgresFields('timeseries', 'ts_sink')), env))
    expect(read({ TIMESCALE_PASSWORD: 'pw' })).toEqual({ host: '127.0.0.1', port: STACK_PORTS.timeseries, database: 'timeseries', user: 'ts_sink', password: 'pw' })
    expect(read({ TIMESCALE_HOST: 'timescaledb', TIMESCALE_PORT: '5432', TIMESCALE_DB: 'ts', TIMESCALE_USER: 'u', TIMESCALE_PASSWORD: 'pw' }))
      .toEqual({ host: 'timescaledb', port: 5432, database: 'ts', user: 'u', password: 'pw' })
  })

  it('the command-line reader is as strict as the services: a bad port and a missing password are reported together', () => {
    const found = problems(() => databaseFromEnv('registry', 'iot_user', { POSTGRES_PORT: '54x2' }))
    expect(found.map(p => p.split(':')[0])).toEqual(['POSTGRES_PORT', 'POSTGRES_PASSWORD'])
    expect(databaseFromEnv('registry', 'iot_user', { POSTGRES_PASSWORD: 'pw', F2_STACK_PORT_OFFSET: '100' }).port).toBe(STACK_PORTS.registry + 100)
  })

  it('a service fails at start-up on a bad port', () => {
    expect(problems(() => loadProcessorConfig({ POSTGRES_PASSWORD: 'pw', POSTGRES_PORT: '0' }))[0]).toMatch(/^POSTGRES_PORT/)
  })

  it('postgresEnv and postgresUrl are the inverse of the reader', () => {
    const c = { host: '127.0.0.1', port: 15433, database: 'timeseries', user: 'ts owner', password: 'p@ss/word' }
    const env = postgresEnv('timeseries', postgresUrl(c))
    expect(env).toEqual({ TIMESCALE_HOST: '127.0.0.1', TIMESCALE_PORT: '15433', TIMESCALE_DB: 'timeseries', TIMESCALE_USER: 'ts owner', TIMESCALE_PASSWORD: 'p@ss/word' })
    expect(databaseFromEnv('timeseries', 'other', env)).toEqual(c)
  })
})

describe("a consuming stage's consumer section", () => {
  const passwords = { POSTGRES_PASSWORD: 'a', TIMESCALE_PASSWORD: 'b' }
  // The variables and defaults of docs/operations/configuration.md, one row per stage.
  const stages = [
    { stage: 'PROCESSOR', load: loadProcessorConfig, group: 'iot-processor', batchSize: 1500, batchWaitMs: 20, waitLimitMs: 60_000, maxBuffered: 3000 },
    { stage: 'SINK', load: loadSinkConfig, group: 'iot-sink', batchSize: 5000, batchWaitMs: 250, waitLimitMs: 600_000, maxBuffered: 7500 },
    { stage: 'FLEET', load: loadFleetConfig, group: 'iot-fleet-state', batchSize: 200, batchWaitMs: 500, waitLimitMs: 10_000, maxBuffered: 400 }
  ] as const

  it.each(stages)('$stage: defaults', ({ stage, load, group, batchSize, batchWaitMs, maxBuffered }) => {
    expect(load({ ...passwords, F2_STACK_PORT_OFFSET: '12000' })).toMatchObject({
      brokers: [`127.0.0.1:${STACK_PORTS.kafka + 12000}`],
      groupId: group,
      instanceId: `${stage.toLowerCase()}-${hostname()}`,
      batchSize,
      batchWaitMs,
      maxBuffered,
      sessionTimeoutMs: 10_000
    })
  })

  it.each(stages)('$stage: its variables, a buffer never smaller than a batch, and the bounds', ({ stage, load, waitLimitMs }) => {
    const set = {
      ...passwords,
      KAFKA_BOOTSTRAP_SERVERS: 'k1:9092,k2:9093',
      KAFKA_CONSUMER_GROUP: 'g',
      KAFKA_SESSION_TIMEOUT_MS: '30000',
      [`${stage}_INSTANCE_ID`]: 'i-1',
      [`${stage}_BATCH_SIZE`]: '400',
      [`${stage}_BATCH_WAIT_MS`]: String(waitLimitMs),
      [`${stage}_MAX_BUFFERED`]: '10'
    }
    expect(load(set)).toMatchObject({ brokers: ['k1:9092', 'k2:9093'], groupId: 'g', instanceId: 'i-1', batchSize: 400, batchWaitMs: waitLimitMs, maxBuffered: 400, sessionTimeoutMs: 30_000 })
    const found = problems(() => load({ ...set, [`${stage}_BATCH_SIZE`]: '0', [`${stage}_BATCH_WAIT_MS`]: String(waitLimitMs + 1), [`${stage}_MAX_BUFFERED`]: 'x', KAFKA_SESSION_TIMEOUT_MS: '999' }))
    expect(found.map(p => p.split(':')[0]).sort()).toEqual([`${stage}_BATCH_SIZE`, `${stage}_BATCH_WAIT_MS`, `${stage}_MAX_BUFFERED`, 'KAFKA_SESSION_TIMEOUT_MS'].sort())
  })
})
