import { z } from 'zod'
import { configLoader, env, httpFields, pickHttp, secondsToMs, type Alias } from '../../adapters/config.ts'
import { consumerFields, deadLetterFields, pickConsumer, pickDeadLetter } from '../../adapters/connections/kafka.ts'
import { pickPostgres, postgresFields } from '../../adapters/connections/postgres.ts'
import { DB_ROLES } from '../../storage/roles.ts'

export const schema = z.object({
  /** SINK_BATCH_SIZE: rows per write; SINK_BATCH_WAIT_MS: longest wait for a full batch after its first record. */
  ...consumerFields('SINK', { group: 'iot-sink', batchSize: 5000, batchWaitMs: 250, batchWaitLimitMs: 600_000, maxBuffered: 7500 }),
  KAFKA_INPUT_TOPIC: env.string('decoded_iot_data'),
  ...deadLetterFields,
  /** Ceiling of the exponential backoff while the database is unavailable. */
  SINK_RETRY_MAX_MS: env.int(10_000, 10, 600_000),
  ...postgresFields('timeseries', DB_ROLES.timeseries.sink),
  ...httpFields(9404)
})

/** The seed's names: `BATCH_SIZE`, and `BATCH_TIMEOUT` in seconds (fractions allowed). */
export const aliases: readonly Alias[] = [
  { alias: 'BATCH_SIZE', name: 'SINK_BATCH_SIZE' },
  { alias: 'BATCH_TIMEOUT', name: 'SINK_BATCH_WAIT_MS', convert: secondsToMs }
]

export type SinkConfig = ReturnType<typeof loadSinkConfig>

export const loadSinkConfig = configLoader('sink', schema, c => ({
  ...pickConsumer('SINK', c),
  inputTopic: c.KAFKA_INPUT_TOPIC,
  ...pickDeadLetter(c),
  retryMaxMs: c.SINK_RETRY_MAX_MS,
  timeseries: pickPostgres('timeseries', c),
  ...pickHttp(c)
}), aliases)
