import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { z } from 'zod'
import { env, loadConfig } from '../../adapters/config.ts'
import { kafkaFields, pickKafka } from '../../adapters/connections/kafka.ts'
import { buildRecord, createProducer, type KafkaRecord } from '../../adapters/kafka.ts'
import { BatchConsumer, partitionKey } from '../../adapters/kafka-consumer.ts'
import { createLogger, type Logger } from '../../adapters/logger.ts'
import { decodeDeadLetter, deadLetterValue } from '../../core/dead-letter.ts'
import { decodeBase64 } from '../../core/json.ts'
import { ErrorCodes, type ErrorCode } from '../../core/errors.ts'
import { createProcessorMetrics } from './metrics.ts'

export interface ReplayOptions {
  brokers: string[]
  deadLetterTopic: string
  /** Where replayed records go: the processor's input topic. */
  inputTopic: string
  reason: ErrorCode
  /** Only dead letters that failed at or after this instant. */
  sinceMs?: number
  dryRun?: boolean
  logger: Logger
  onReplayed?: (n: number) => void
}

export interface ReplayReport {
  scanned: number
  matched: number
  replayed: number
  /** Matched, but holding only a prefix of the original (see encodeDeadLetterWithin): not replayed. */
  truncated: number
}

/**
 * Re-reads `iot_dead_letter` from the beginning up to its end at the time of the call and
 * produces the original record of every processor dead letter with `reason` (and
 * `failed_at >= since`) back to the processor's input topic, with its original key.
 * The processor decodes it again; a record that still fails is dead-lettered anew. A dead
 * letter holding only a prefix of its original is counted as `truncated`, not replayed.
 * Replaying twice is harmless: the sink stores a measurement once.
 */
export async function replayDeadLetters (o: ReplayOptions): Promise<ReplayReport> {
  const consumer = new BatchConsumer({
    bootstrapBrokers: o.brokers,
    groupId: `f2-replay-${randomUUID()}`,
    clientId: 'f2-replay',
    topics: [o.deadLetterTopic],
    maxBatch: 5000,
    maxWaitMs: 50,
    maxBuffered: 20_000,
    logger: o.logger
  })
  const producer = o.dryRun === true ? undefined : createProducer({ clientId: 'f2-replay-producer', bootstrapBrokers: o.brokers, retries: 5 })
  const report: ReplayReport = { scanned: 0, matched: 0, replayed: 0, truncated: 0 }
  try {
    await consumer.start()
    const ends = await endOffsets(consumer, o.deadLetterTopic)
    const remaining = new Map([...ends].filter(([, end]) => end > 0n))
    while (remaining.size > 0) {
      const batch = await consumer.nextBatch(1000)
      const out: KafkaRecord[] = []
      for (const m of batch) {
        const key = partitionKey(m.topic, m.partition)
        const end = remaining.get(key)
        if (end === undefined || m.offset >= end) continue
        if (m.offset + 1n >= end) remaining.delete(key)
        report.scanned++
        const dl = decodeDeadLetter(m.value ?? Buffer.alloc(0))
        if (!dl.ok || dl.value.reason !== o.reason || dl.value.stage !== 'processor') continue
        if (o.sinceMs !== undefined && Date.parse(dl.value.failed_at) < o.sinceMs) continue
        report.matched++
        // A prefix of the original would decode as something else: never fed back.
        if (dl.value.details?.truncated === true) { report.truncated++; continue }
        const originalKey = dl.value.original_key === null ? null : decodeBase64(dl.value.original_key)
        out.push(buildRecord(o.inputTopic, originalKey === null ? null : Buffer.from(originalKey), Buffer.from(deadLetterValue(dl.value)), { replayed_from: `${m.topic}/${m.partition}/${m.offset}` }))
      }
      if (producer !== undefined && out.length > 0) {
        await producer.send({ messages: out })
        report.replayed += out.length
        o.onReplayed?.(out.length)
      }
      if (batch.length === 0) {
        // Transaction markers occupy offsets but are never handed out: a partition is done
        // once the stream's fetch position reached the end seen at the start.
        for (const [key, end] of [...remaining]) {
          const partition = Number(key.slice(key.lastIndexOf(':') + 1))
          if ((consumer.fetchPosition(o.deadLetterTopic, partition) ?? -1n) >= end) remaining.delete(key)
        }
      }
    }
    return report
  } finally {
    await consumer.close()
    await producer?.close().catch(() => {})
  }
}

async function endOffsets (consumer: BatchConsumer, topic: string): Promise<Map<string, bigint>> {
  const offsets = await consumer.consumer.listOffsets({ topics: [topic] })
  const out = new Map<string, bigint>()
  offsets.get(topic)?.forEach((end, partition) => out.set(partitionKey(topic, partition), end))
  return out
}

const configSchema = z.object({
  ...kafkaFields,
  KAFKA_INPUT_TOPIC: env.string('raw_iot_data'),
  KAFKA_DEAD_LETTER_TOPIC: env.string('iot_dead_letter')
})

const usage = 'usage: node src/cli.ts replay --reason F2_<CODE> [--since <ISO time>] [--dry-run]\n'

/** `node src/cli.ts replay --reason F2_… [--since] [--dry-run]`: prints a JSON report. */
export async function run (argv: string[]): Promise<number> {
  let values: { reason?: string, since?: string, 'dry-run'?: boolean, help?: boolean }
  try {
    values = parseArgs({ args: argv, options: { reason: { type: 'string' }, since: { type: 'string' }, 'dry-run': { type: 'boolean' }, help: { type: 'boolean' } } }).values
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${usage}`)
    return 2
  }
  if (values.help === true) { process.stdout.write(usage); return 0 }
  const codes = Object.values(ErrorCodes) as string[]
  if (values.reason === undefined || !codes.includes(values.reason)) {
    process.stderr.write(`--reason must be one of the error codes (e.g. ${ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER})\n${usage}`)
    return 2
  }
  const sinceMs = values.since === undefined ? undefined : Date.parse(values.since)
  if (sinceMs !== undefined && Number.isNaN(sinceMs)) {
    process.stderr.write(`--since: not a time: ${values.since}\n${usage}`)
    return 2
  }
  const config = loadConfig('replay', configSchema)
  const logger = createLogger('replay')
  const metrics = createProcessorMetrics()
  const reason = values.reason as ErrorCode
  const report = await replayDeadLetters({
    brokers: pickKafka(config),
    deadLetterTopic: config.KAFKA_DEAD_LETTER_TOPIC,
    inputTopic: config.KAFKA_INPUT_TOPIC,
    reason,
    sinceMs,
    dryRun: values['dry-run'] === true,
    logger,
    onReplayed: n => metrics.replayed.inc({ reason }, n)
  })
  process.stdout.write(`${JSON.stringify({ reason, dryRun: values['dry-run'] === true, ...report })}\n`)
  return 0
}
