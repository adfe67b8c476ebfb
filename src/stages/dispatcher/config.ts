import { z } from 'zod'
import { DB_ROLES } from '../../storage/roles.ts'
import { env, loadConfig, type Env } from '../../adapters/config.ts'
import { kafkaFields, pickKafka } from '../../adapters/connections/kafka.ts'
import { mqttFields, pickMqtt } from '../../adapters/connections/mqtt.ts'
import { pickPostgres, postgresFields, type PostgresConnection } from '../../adapters/connections/postgres.ts'

export const schema = z.object({
  ...kafkaFields,
  KAFKA_COMMAND_TOPIC: env.string('device_commands'),
  KAFKA_CONSUMER_GROUP: env.string('iot-dispatcher'),
  ...mqttFields,
  DISPATCHER_CLIENT_ID: env.string('f2-dispatcher-1'),
  /** How often commands past their TTL are marked expired. */
  DISPATCHER_EXPIRE_EVERY_MS: env.int(1000, 50, 60_000),
  ...postgresFields('registry', DB_ROLES.registry.dispatcher),
  HTTP_HOST: env.string('127.0.0.1'),
  HTTP_PORT: env.int(9406, 0, 65535)
})

export interface DispatcherConfig {
  brokers: string[]
  topic: string
  groupId: string
  mqttUrl: string
  mqttUsername: string | undefined
  mqttPassword: string | undefined
  clientId: string
  expireEveryMs: number
  registry: PostgresConnection
  httpHost: string
  httpPort: number
}

/** The dispatcher's settings, from the environment. */
export function loadDispatcherConfig (source: Env = process.env): Readonly<DispatcherConfig> {
  const c = loadConfig('dispatcher', schema, source)
  const mqtt = pickMqtt(c)
  return Object.freeze({
    brokers: pickKafka(c),
    topic: c.KAFKA_COMMAND_TOPIC,
    groupId: c.KAFKA_CONSUMER_GROUP,
    mqttUrl: mqtt.url,
    mqttUsername: mqtt.username,
    mqttPassword: mqtt.password,
    clientId: c.DISPATCHER_CLIENT_ID,
    expireEveryMs: c.DISPATCHER_EXPIRE_EVERY_MS,
    registry: pickPostgres('registry', c),
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT
  })
}
