import { z } from 'zod'
import { DB_ROLES } from '../../storage/roles.ts'
import { mqttUrl } from '../../adapters/mqtt.ts'
import { env, kafkaBrokers, loadConfig, pickPostgres, postgresFields, REGISTRY_DEFAULTS, type Env, type PostgresConnection } from '../../adapters/config.ts'

export const schema = z.object({
  KAFKA_BOOTSTRAP_SERVERS: kafkaBrokers(),
  KAFKA_COMMAND_TOPIC: env.string('device_commands'),
  KAFKA_CONSUMER_GROUP: env.string('iot-dispatcher'),
  MQTT_BROKER: env.string('127.0.0.1'),
  MQTT_PORT: env.int(1883, 1, 65535),
  MQTT_USERNAME: z.string().optional(),
  MQTT_PASSWORD: z.string().optional(),
  DISPATCHER_CLIENT_ID: env.string('f2-dispatcher-1'),
  /** How often commands past their TTL are marked expired. */
  DISPATCHER_EXPIRE_EVERY_MS: env.int(1000, 50, 60_000),
  ...postgresFields('POSTGRES', { ...REGISTRY_DEFAULTS, user: DB_ROLES.registry.dispatcher }),
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
  return Object.freeze({
    brokers: c.KAFKA_BOOTSTRAP_SERVERS,
    topic: c.KAFKA_COMMAND_TOPIC,
    groupId: c.KAFKA_CONSUMER_GROUP,
    mqttUrl: mqttUrl(c.MQTT_BROKER, c.MQTT_PORT),
    mqttUsername: c.MQTT_USERNAME,
    mqttPassword: c.MQTT_PASSWORD,
    clientId: c.DISPATCHER_CLIENT_ID,
    expireEveryMs: c.DISPATCHER_EXPIRE_EVERY_MS,
    registry: pickPostgres('POSTGRES', c as unknown as Record<string, unknown>),
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT
  })
}
