import { z } from 'zod'
import { configLoader, env, httpFields, pickHttp } from '../../adapters/config.ts'
import { kafkaFields, pickKafka } from '../../adapters/connections/kafka.ts'
import { pickPostgres, postgresFields } from '../../adapters/connections/postgres.ts'
import { TTL_LIMITS } from '../../core/command.ts'
import { DB_ROLES } from '../../storage/roles.ts'

export const schema = z.object({
  ...httpFields(8080),
  ...postgresFields('registry', DB_ROLES.registry.api),
  ...postgresFields('timeseries', DB_ROLES.timeseries.reader),
  /** Longest a query may run before the database cancels it (statement_timeout). */
  API_QUERY_TIMEOUT_MS: env.int(10_000, 100, 300_000),
  /** Connections per database pool. */
  API_DB_POOL: env.int(4, 1, 50),
  /** Accepted commands go to this topic, keyed by MAC, for the dispatcher. */
  ...kafkaFields,
  KAFKA_COMMAND_TOPIC: env.string('device_commands'),
  /** Time to live of a command whose request gives no ttl_s, in seconds. */
  COMMAND_TTL_S: env.int(TTL_LIMITS.default, TTL_LIMITS.min, TTL_LIMITS.max)
})

export type ApiConfig = ReturnType<typeof loadApiConfig>

/** The read API's settings, from the environment (seed names for the two databases). */
export const loadApiConfig = configLoader('api', schema, c => ({
  ...pickHttp(c),
  registry: pickPostgres('registry', c),
  timeseries: pickPostgres('timeseries', c),
  queryTimeoutMs: c.API_QUERY_TIMEOUT_MS,
  poolSize: c.API_DB_POOL,
  commandTtlS: c.COMMAND_TTL_S,
  kafkaBrokers: pickKafka(c),
  commandTopic: c.KAFKA_COMMAND_TOPIC
}))
