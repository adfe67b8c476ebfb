import { hostname } from 'node:os'
import { z } from 'zod'
import { COMPRESSIONS, KAFKA_MESSAGE_MAX_BYTES, type Compression } from '../../adapters/kafka.ts'
import { env, loadConfig, type Env } from '../../adapters/config.ts'
import { kafkaFields, pickKafka } from '../../adapters/connections/kafka.ts'
import { pickPostgres, postgresFields, type PostgresConnection } from '../../adapters/connections/postgres.ts'
import { DB_ROLES } from '../../storage/roles.ts'

export const schema = z.object({
  ...kafkaFields,
  KAFKA_INPUT_TOPIC: env.string('raw_iot_data'),
  KAFKA_OUTPUT_TOPIC: env.string('decoded_iot_data'),
  KAFKA_DEAD_LETTER_TOPIC: env.string('iot_dead_letter'),
  KAFKA_CONSUMER_GROUP: env.string('iot-processor'),
  /** Stable per instance: a restarted instance fences its predecessor's open transaction at once. */
  PROCESSOR_INSTANCE_ID: env.string(`processor-${hostname()}`),
  /** Exactly-once consume-transform-produce; `false` = idempotent producer + commit after acks. */
  PROCESSOR_TRANSACTIONS: env.bool(true),
  PROCESSOR_BATCH_SIZE: env.int(1500, 1, 100_000),
  /** Compression of decoded_iot_data / iot_dead_letter batches. */
  PROCESSOR_COMPRESSION: env.oneOf(COMPRESSIONS, 'none'),
  PROCESSOR_BATCH_WAIT_MS: env.int(20, 0, 60_000),
  PROCESSOR_MAX_BUFFERED: env.int(3000, 1, 1_000_000),
  KAFKA_SESSION_TIMEOUT_MS: env.int(10_000, 1000, 300_000),
  DEVICE_TIMEZONE: env.string('UTC'),
  /** Largest record the output topics accept (the broker's message.max.bytes). */
  KAFKA_MAX_RECORD_BYTES: env.int(KAFKA_MESSAGE_MAX_BYTES, 16 * 1024, 100 * 1024 * 1024),
  /** Device times further ahead of the connector's receipt time are dead-lettered (1 day). */
  TIMESTAMP_MAX_AHEAD_S: env.int(24 * 3600, 0, 100 * 365 * 24 * 3600),
  /** Device times older than this at receipt are dead-lettered (365 days: the default retention). */
  TIMESTAMP_MAX_AGE_S: env.int(365 * 24 * 3600, 0, 1000 * 365 * 24 * 3600),
  ...postgresFields('registry', DB_ROLES.registry.processor),
  HTTP_HOST: env.string('127.0.0.1'),
  HTTP_PORT: env.int(9403, 0, 65535)
})

export interface ProcessorConfig {
  brokers: string[]
  inputTopic: string
  outputTopic: string
  deadLetterTopic: string
  groupId: string
  instanceId: string
  transactions: boolean
  compression: Compression
  batchSize: number
  batchWaitMs: number
  maxBuffered: number
  sessionTimeoutMs: number
  zone: string
  maxRecordBytes: number
  timestampMaxAheadMs: number
  timestampMaxAgeMs: number
  registry: PostgresConnection
  httpHost: string
  httpPort: number
}

export function loadProcessorConfig (source: Env = process.env): Readonly<ProcessorConfig> {
  const c = loadConfig('processor', schema, source)
  return Object.freeze({
    brokers: pickKafka(c),
    inputTopic: c.KAFKA_INPUT_TOPIC,
    outputTopic: c.KAFKA_OUTPUT_TOPIC,
    deadLetterTopic: c.KAFKA_DEAD_LETTER_TOPIC,
    groupId: c.KAFKA_CONSUMER_GROUP,
    instanceId: c.PROCESSOR_INSTANCE_ID,
    transactions: c.PROCESSOR_TRANSACTIONS,
    compression: c.PROCESSOR_COMPRESSION,
    batchSize: c.PROCESSOR_BATCH_SIZE,
    batchWaitMs: c.PROCESSOR_BATCH_WAIT_MS,
    maxBuffered: Math.max(c.PROCESSOR_MAX_BUFFERED, c.PROCESSOR_BATCH_SIZE),
    sessionTimeoutMs: c.KAFKA_SESSION_TIMEOUT_MS,
    zone: c.DEVICE_TIMEZONE,
    maxRecordBytes: c.KAFKA_MAX_RECORD_BYTES,
    timestampMaxAheadMs: c.TIMESTAMP_MAX_AHEAD_S * 1000,
    timestampMaxAgeMs: c.TIMESTAMP_MAX_AGE_S * 1000,
    registry: pickPostgres('registry', c),
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT
  })
}
