import { hostname } from 'node:os'
import { z } from 'zod'
import { KAFKA_MESSAGE_MAX_BYTES } from '../../adapters/kafka.ts'
import { env, loadConfig, secondsToMs, type Alias, type Env } from '../../adapters/config.ts'
import { kafkaFields, pickKafka } from '../../adapters/connections/kafka.ts'
import { pickPostgres, postgresFields, type PostgresConnection } from '../../adapters/connections/postgres.ts'
import { DB_ROLES } from '../../storage/roles.ts'

export const schema = z.object({
  ...kafkaFields,
  KAFKA_INPUT_TOPIC: env.string('decoded_iot_data'),
  KAFKA_DEAD_LETTER_TOPIC: env.string('iot_dead_letter'),
  KAFKA_CONSUMER_GROUP: env.string('iot-sink'),
  SINK_INSTANCE_ID: env.string(`sink-${hostname()}`),
  /** Rows per flush. */
  SINK_BATCH_SIZE: env.int(5000, 1, 100_000),
  /** Longest wait for a full batch after its first record. */
  SINK_BATCH_WAIT_MS: env.int(250, 0, 600_000),
  SINK_MAX_BUFFERED: env.int(7500, 1, 1_000_000),
  KAFKA_SESSION_TIMEOUT_MS: env.int(10_000, 1000, 300_000),
  /** Ceiling of the exponential backoff while the database is unavailable. */
  SINK_RETRY_MAX_MS: env.int(10_000, 10, 600_000),
  /** Largest record the dead-letter topic accepts (the broker's message.max.bytes). */
  KAFKA_MAX_RECORD_BYTES: env.int(KAFKA_MESSAGE_MAX_BYTES, 16 * 1024, 100 * 1024 * 1024),
  ...postgresFields('timeseries', DB_ROLES.timeseries.sink),
  HTTP_HOST: env.string('127.0.0.1'),
  HTTP_PORT: env.int(9404, 0, 65535)
})

/** The seed's names: `BATCH_SIZE`, and `BATCH_TIMEOUT` in seconds (fractions allowed). */
export const aliases: readonly Alias[] = [
  { alias: 'BATCH_SIZE', name: 'SINK_BATCH_SIZE' },
  { alias: 'BATCH_TIMEOUT', name: 'SINK_BATCH_WAIT_MS', convert: secondsToMs }
]

export interface SinkConfig {
  brokers: string[]
  inputTopic: string
  deadLetterTopic: string
  groupId: string
  instanceId: string
  batchSize: number
  batchTimeoutMs: number
  maxBuffered: number
  sessionTimeoutMs: number
  retryMaxMs: number
  maxRecordBytes: number
  timeseries: PostgresConnection
  httpHost: string
  httpPort: number
}

export function loadSinkConfig (source: Env = process.env): Readonly<SinkConfig> {
  const c = loadConfig('sink', schema, source, aliases)
  return Object.freeze({
    brokers: pickKafka(c),
    inputTopic: c.KAFKA_INPUT_TOPIC,
    deadLetterTopic: c.KAFKA_DEAD_LETTER_TOPIC,
    groupId: c.KAFKA_CONSUMER_GROUP,
    instanceId: c.SINK_INSTANCE_ID,
    batchSize: c.SINK_BATCH_SIZE,
    batchTimeoutMs: c.SINK_BATCH_WAIT_MS,
    maxBuffered: Math.max(c.SINK_MAX_BUFFERED, c.SINK_BATCH_SIZE),
    sessionTimeoutMs: c.KAFKA_SESSION_TIMEOUT_MS,
    retryMaxMs: c.SINK_RETRY_MAX_MS,
    maxRecordBytes: c.KAFKA_MAX_RECORD_BYTES,
    timeseries: pickPostgres('timeseries', c),
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT
  })
}
