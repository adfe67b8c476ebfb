import { z } from 'zod'
import { COMPRESSIONS } from '../../adapters/kafka.ts'
import { configLoader, env, httpFields, pickHttp } from '../../adapters/config.ts'
import { consumerFields, deadLetterFields, pickConsumer, pickDeadLetter } from '../../adapters/connections/kafka.ts'
import { pickPostgres, postgresFields } from '../../adapters/connections/postgres.ts'
import { DB_ROLES } from '../../storage/roles.ts'

export const schema = z.object({
  ...consumerFields('PROCESSOR', { group: 'iot-processor', batchSize: 1500, batchWaitMs: 20, batchWaitLimitMs: 60_000, maxBuffered: 3000 }),
  KAFKA_INPUT_TOPIC: env.string('raw_iot_data'),
  KAFKA_OUTPUT_TOPIC: env.string('decoded_iot_data'),
  /** One record per raw message for the fleet state (src/core/activity.ts). */
  KAFKA_ACTIVITY_TOPIC: env.string('device_activity'),
  /** Writes the activity records; off for a pipeline that runs no fleet stage. */
  PROCESSOR_DEVICE_ACTIVITY: env.bool(true),
  ...deadLetterFields,
  /** Exactly-once consume-transform-produce; `false` = idempotent producer + commit after acks. */
  PROCESSOR_TRANSACTIONS: env.bool(true),
  /** Compression of decoded_iot_data / iot_dead_letter batches. */
  PROCESSOR_COMPRESSION: env.oneOf(COMPRESSIONS, 'none'),
  DEVICE_TIMEZONE: env.string('UTC'),
  /** Device times further ahead of the connector's receipt time are dead-lettered (1 day). */
  TIMESTAMP_MAX_AHEAD_S: env.int(24 * 3600, 0, 100 * 365 * 24 * 3600),
  /** Device times older than this at receipt are dead-lettered (365 days: the default retention). */
  TIMESTAMP_MAX_AGE_S: env.int(365 * 24 * 3600, 0, 1000 * 365 * 24 * 3600),
  ...postgresFields('registry', DB_ROLES.registry.processor),
  ...httpFields(9403)
})

/**
 * The processor's settings. Its instance id is stable per instance: a restarted instance fences
 * its predecessor's open transaction at once.
 */
export type ProcessorConfig = ReturnType<typeof loadProcessorConfig>

export const loadProcessorConfig = configLoader('processor', schema, c => ({
  ...pickConsumer('PROCESSOR', c),
  inputTopic: c.KAFKA_INPUT_TOPIC,
  outputTopic: c.KAFKA_OUTPUT_TOPIC,
  activityTopic: c.PROCESSOR_DEVICE_ACTIVITY ? c.KAFKA_ACTIVITY_TOPIC : null,
  ...pickDeadLetter(c),
  transactions: c.PROCESSOR_TRANSACTIONS,
  compression: c.PROCESSOR_COMPRESSION,
  zone: c.DEVICE_TIMEZONE,
  timestampMaxAheadMs: c.TIMESTAMP_MAX_AHEAD_S * 1000,
  timestampMaxAgeMs: c.TIMESTAMP_MAX_AGE_S * 1000,
  registry: pickPostgres('registry', c),
  ...pickHttp(c)
}))
