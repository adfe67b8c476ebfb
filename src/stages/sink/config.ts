import { hostname } from 'node:os'
import { z } from 'zod'
import { KAFKA_MESSAGE_MAX_BYTES } from '../../adapters/kafka.ts'
import { env, kafkaBrokers, loadConfig, pickPostgres, postgresFields, TIMESERIES_DEFAULTS, type Env, type PostgresConnection } from '../../adapters/config.ts'
import { DB_ROLES } from '../../storage/roles.ts'

export const schema = z.object({
  KAFKA_BOOTSTRAP_SERVERS: kafkaBrokers(),
  KAFKA_INPUT_TOPIC: env.string('decoded_iot_data'),
  KAFKA_DEAD_LETTER_TOPIC: env.string('iot_dead_letter'),
  KAFKA_CONSUMER_GROUP: env.string('iot-sink'),
  SINK_INSTANCE_ID: env.string(`sink-${hostname()}`),
  /** Rows per flush (the seed's name). */
  BATCH_SIZE: env.int(5000, 1, 100_000),
  /** Longest wait for a full batch, in seconds (the seed's name and unit); fractions allowed. */
  BATCH_TIMEOUT: env.number(0.25, 0),
  SINK_MAX_BUFFERED: env.int(7500, 1, 1_000_000),
  KAFKA_SESSION_TIMEOUT_MS: env.int(10_000, 1000, 300_000),
  /** Ceiling of the exponential backoff while the database is unavailable. */
  SINK_RETRY_MAX_MS: env.int(10_000, 10, 600_000),
  /** Largest record the dead-letter topic accepts (the broker's message.max.bytes). */
  KAFKA_MAX_RECORD_BYTES: env.int(KAFKA_MESSAGE_MAX_BYTES, 16 * 1024, 100 * 1024 * 1024),
  ...postgresFields('TIMESCALE', { ...TIMESERIES_DEFAULTS, user: DB_ROLES.timeseries.sink }),
  HTTP_HOST: env.string('127.0.0.1'),
  HTTP_PORT: env.int(9404, 0, 65535)
})

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
  const c = loadConfig('sink', schema, source)
  return Object.freeze({
    brokers: [...c.KAFKA_BOOTSTRAP_SERVERS],
    inputTopic: c.KAFKA_INPUT_TOPIC,
    deadLetterTopic: c.KAFKA_DEAD_LETTER_TOPIC,
    groupId: c.KAFKA_CONSUMER_GROUP,
    instanceId: c.SINK_INSTANCE_ID,
    batchSize: c.BATCH_SIZE,
    batchTimeoutMs: Math.round(c.BATCH_TIMEOUT * 1000),
    maxBuffered: Math.max(c.SINK_MAX_BUFFERED, c.BATCH_SIZE),
    sessionTimeoutMs: c.KAFKA_SESSION_TIMEOUT_MS,
    retryMaxMs: c.SINK_RETRY_MAX_MS,
    maxRecordBytes: c.KAFKA_MAX_RECORD_BYTES,
    timeseries: pickPostgres('TIMESCALE', c),
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT
  })
}
