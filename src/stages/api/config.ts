import { z } from 'zod'
import { env, kafkaBrokers, loadConfig, pickPostgres, postgresFields, REGISTRY_DEFAULTS, TIMESERIES_DEFAULTS, type Env, type PostgresConnection } from '../../adapters/config.ts'
import { TTL_LIMITS } from '../../core/command.ts'
import { DB_ROLES } from '../../storage/roles.ts'

export const schema = z.object({
  /** Loopback unless configured otherwise (the image sets 0.0.0.0 inside its container). */
  HTTP_HOST: env.string('127.0.0.1'),
  HTTP_PORT: env.int(8080, 0, 65535),
  ...postgresFields('POSTGRES', { ...REGISTRY_DEFAULTS, user: DB_ROLES.registry.api }),
  ...postgresFields('TIMESCALE', { ...TIMESERIES_DEFAULTS, user: DB_ROLES.timeseries.reader }),
  /** Longest a query may run before the database cancels it (statement_timeout). */
  API_QUERY_TIMEOUT_MS: env.int(10_000, 100, 300_000),
  /** Connections per database pool. */
  API_DB_POOL: env.int(4, 1, 50),
  /** Accepted commands go to this topic, keyed by MAC, for the dispatcher. */
  KAFKA_BOOTSTRAP_SERVERS: kafkaBrokers(),
  KAFKA_COMMAND_TOPIC: env.string('device_commands'),
  /** Time to live of a command whose request gives no ttl_s, in seconds. */
  COMMAND_TTL_S: env.int(TTL_LIMITS.default, TTL_LIMITS.min, TTL_LIMITS.max)
})

export interface ApiConfig {
  httpHost: string
  httpPort: number
  registry: PostgresConnection
  timeseries: PostgresConnection
  queryTimeoutMs: number
  poolSize: number
  commandTtlS: number
  kafkaBrokers: string[]
  commandTopic: string
}

/** The read API's settings, from the environment (seed names for the two databases). */
export function loadApiConfig (source: Env = process.env): Readonly<ApiConfig> {
  const c = loadConfig('api', schema, source)
  const values = c as unknown as Record<string, unknown>
  return Object.freeze({
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT,
    registry: pickPostgres('POSTGRES', values),
    timeseries: pickPostgres('TIMESCALE', values),
    queryTimeoutMs: c.API_QUERY_TIMEOUT_MS,
    poolSize: c.API_DB_POOL,
    commandTtlS: c.COMMAND_TTL_S,
    kafkaBrokers: c.KAFKA_BOOTSTRAP_SERVERS,
    commandTopic: c.KAFKA_COMMAND_TOPIC
  })
}
