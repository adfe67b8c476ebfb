import { hostname } from 'node:os'
import { z } from 'zod'
import { env } from '../config.ts'
import { KAFKA_MESSAGE_MAX_BYTES } from '../kafka.ts'
import { portOffsetField, STACK_HOST, STACK_PORTS, type WithPortOffset } from './stack-ports.ts'

/**
 * Where Kafka is: the seed's KAFKA_BOOTSTRAP_SERVERS (`host:port[,host:port]`). Unset, the
 * native stack's broker (with F2_STACK_PORT_OFFSET). A malformed list is a config error at
 * start-up, never a silent default.
 */
export const kafkaFields = {
  KAFKA_BOOTSTRAP_SERVERS: z.string()
    .transform(v => v.split(',').map(s => s.trim()).filter(s => s.length > 0))
    .pipe(z.array(z.string().regex(/^[^:\s,]+:\d{1,5}$/, 'expected host:port[,host:port]')
      .refine(s => { const p = Number(s.slice(s.lastIndexOf(':') + 1)); return p >= 1 && p <= 65535 }, 'port out of range 1-65535')).min(1))
    .optional(),
  ...portOffsetField
}

export interface KafkaValues extends WithPortOffset { KAFKA_BOOTSTRAP_SERVERS?: string[] | undefined }

/** The native stack's bootstrap address at `offset`. */
export function stackKafkaBootstrap (offset = 0): string {
  return `${STACK_HOST}:${STACK_PORTS.kafka + offset}`
}

/** The bootstrap brokers from values parsed with `kafkaFields`. */
export function pickKafka (values: KafkaValues): string[] {
  return values.KAFKA_BOOTSTRAP_SERVERS === undefined ? [stackKafkaBootstrap(values.F2_STACK_PORT_OFFSET)] : [...values.KAFKA_BOOTSTRAP_SERVERS]
}

type IntField = ReturnType<typeof env.int>

/** The environment fields of a stage's batch consumer, named after the stage (`FLEET_BATCH_SIZE`, …). */
export type ConsumerFields<S extends string> = typeof kafkaFields & {
  KAFKA_CONSUMER_GROUP: z.ZodDefault<z.ZodString>
  KAFKA_SESSION_TIMEOUT_MS: IntField
} & {
  [F in `${S}_INSTANCE_ID`]: z.ZodDefault<z.ZodString>
} & {
  [F in `${S}_BATCH_SIZE` | `${S}_BATCH_WAIT_MS` | `${S}_MAX_BUFFERED`]: IntField
}

/** The defaults of a stage's consumer section; `batchWaitLimitMs` is the largest wait accepted. */
export interface ConsumerDefaults {
  group: string
  batchSize: number
  batchWaitMs: number
  batchWaitLimitMs: number
  maxBuffered: number
}

/**
 * A stage that reads Kafka in batches (processor, sink, fleet state): where Kafka is, its
 * consumer group, its instance id (`<stage>-<host>` unless set: stable across restarts), how
 * many records a batch holds and how long it waits to fill, how many records are buffered
 * before reading pauses (never fewer than a batch), and the group session timeout.
 */
export interface ConsumerSettings {
  brokers: string[]
  groupId: string
  instanceId: string
  batchSize: number
  batchWaitMs: number
  maxBuffered: number
  sessionTimeoutMs: number
}

/**
 * The fields of `stage`'s consumer section: KAFKA_BOOTSTRAP_SERVERS, KAFKA_CONSUMER_GROUP,
 * KAFKA_SESSION_TIMEOUT_MS and `<STAGE>_INSTANCE_ID`, `<STAGE>_BATCH_SIZE`,
 * `<STAGE>_BATCH_WAIT_MS`, `<STAGE>_MAX_BUFFERED` (docs/operations/configuration.md).
 */
export function consumerFields<S extends string> (stage: S, d: ConsumerDefaults): ConsumerFields<S> {
  return {
    ...kafkaFields,
    KAFKA_CONSUMER_GROUP: env.string(d.group),
    KAFKA_SESSION_TIMEOUT_MS: env.int(10_000, 1000, 300_000),
    [`${stage}_INSTANCE_ID`]: env.string(`${stage.toLowerCase()}-${hostname()}`),
    [`${stage}_BATCH_SIZE`]: env.int(d.batchSize, 1, 100_000),
    [`${stage}_BATCH_WAIT_MS`]: env.int(d.batchWaitMs, 0, d.batchWaitLimitMs),
    [`${stage}_MAX_BUFFERED`]: env.int(d.maxBuffered, 1, 1_000_000)
  } as ConsumerFields<S>
}

/** What `consumerFields(stage, …)` parses to. */
export type ConsumerValues<S extends string> = KafkaValues & { KAFKA_CONSUMER_GROUP: string, KAFKA_SESSION_TIMEOUT_MS: number } & {
  [F in `${S}_INSTANCE_ID`]: string
} & {
  [F in `${S}_BATCH_SIZE` | `${S}_BATCH_WAIT_MS` | `${S}_MAX_BUFFERED`]: number
}

/** The consumer section from values parsed with `consumerFields(stage, …)`. */
export function pickConsumer<S extends string> (stage: S, values: ConsumerValues<S>): ConsumerSettings {
  const v = values as unknown as Record<string, unknown>
  const batchSize = v[`${stage}_BATCH_SIZE`] as number
  return {
    brokers: pickKafka(values),
    groupId: values.KAFKA_CONSUMER_GROUP,
    instanceId: v[`${stage}_INSTANCE_ID`] as string,
    batchSize,
    batchWaitMs: v[`${stage}_BATCH_WAIT_MS`] as number,
    maxBuffered: Math.max(v[`${stage}_MAX_BUFFERED`] as number, batchSize),
    sessionTimeoutMs: values.KAFKA_SESSION_TIMEOUT_MS
  }
}

/**
 * A stage that produces dead letters (connector, processor, sink): KAFKA_DEAD_LETTER_TOPIC, and
 * KAFKA_MAX_RECORD_BYTES, the largest record the broker accepts (its message.max.bytes); a
 * record larger than that is never sent as it is (the connector and processor dead-letter it,
 * a dead letter is cut to fit).
 */
export const deadLetterFields = {
  KAFKA_DEAD_LETTER_TOPIC: env.string('iot_dead_letter'),
  KAFKA_MAX_RECORD_BYTES: env.int(KAFKA_MESSAGE_MAX_BYTES, 16 * 1024, 100 * 1024 * 1024)
}

/** The dead-letter section from values parsed with `deadLetterFields`. */
export function pickDeadLetter (values: { KAFKA_DEAD_LETTER_TOPIC: string, KAFKA_MAX_RECORD_BYTES: number }): { deadLetterTopic: string, maxRecordBytes: number } {
  return { deadLetterTopic: values.KAFKA_DEAD_LETTER_TOPIC, maxRecordBytes: values.KAFKA_MAX_RECORD_BYTES }
}
