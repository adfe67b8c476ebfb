import { performance } from 'node:perf_hooks'
import { buildRecord, RECORD_OVERHEAD_BYTES, type KafkaRecord } from '../../adapters/kafka.ts'
import { activityHead, encodeActivity, type ActivityHead } from '../../core/activity.ts'
import type { Measurement } from '../../core/measurement.ts'
import type { Result } from '../../core/result.ts'
import type { SensorDefinition } from '../../core/sensor.ts'
import type { ProcessorConfig } from './config.ts'
import type { ProcessorMetrics } from './metrics.ts'
import { finish, oversizeDeadLetter, type OutputLimits, type Prepared } from './transform.ts'

/** A batch's output records; `origins[i]` is the message `records[i]` came from. */
export interface Outputs { records: KafkaRecord[], origins: Prepared[] }

export interface OutputContext {
  config: Pick<ProcessorConfig, 'outputTopic' | 'deadLetterTopic' | 'activityTopic' | 'zone'>
  metrics: ProcessorMetrics
  nowMs: number
  limits: OutputLimits
}

/**
 * Builds a batch's Kafka records from its prepared messages and their sensors: measurements
 * on the output topic keyed by controller, dead letters with their reason header; a
 * measurement above the record limit becomes a dead letter instead; with an activity topic,
 * one activity record per message that names a controller (src/core/activity.ts), presence
 * messages included. Counts presence messages, decode latency (the sensor lookup included),
 * measurements and dead letters as it builds.
 */
export function buildOutputs (prepared: Prepared[], sensors: Map<string, Result<SensorDefinition>>, lookupSeconds: Map<string, number>, ctx: OutputContext): Outputs {
  const { config, metrics, limits } = ctx
  const now = ctx.nowMs
  const records: KafkaRecord[] = []
  const origins: Prepared[] = []
  const produced = new Map<string, number>()
  const dead = new Map<string, number>()
  for (const p of prepared) {
    if (p.ok === 'presence') {
      metrics.presence.inc({ state: p.presence })
      if (config.activityTopic !== null) pushActivity(records, origins, config.activityTopic, p, 0, [], limits)
      continue
    }
    const t0 = performance.now()
    const out = finish(p, sensors, config.zone, now, limits)
    const lookup = p.ok === true && p.sensorKey !== null ? lookupSeconds.get(p.sensorKey) ?? 0 : 0
    metrics.decodeLatency.observe((performance.now() - t0) / 1000 + lookup)
    // The measurements of one message share their controller, hence their key.
    let keyOf: string | undefined
    let key = Buffer.alloc(0)
    let producedHere = 0
    const kept: Measurement[] = []
    for (const m of out.measurements) {
      if (m.device_id !== keyOf) { keyOf = m.device_id; key = Buffer.from(keyOf, 'utf8') }
      const value = Buffer.from(JSON.stringify(m))
      // The encoded size is at hand: a measurement the topic would refuse becomes a dead letter.
      if (value.length + key.length + RECORD_OVERHEAD_BYTES > limits.maxRecordBytes) {
        out.deadLetters.push(oversizeDeadLetter(p, m.datapoint_label, value.length + key.length + RECORD_OVERHEAD_BYTES, now, limits))
        continue
      }
      records.push(buildRecord(config.outputTopic, key, value))
      origins.push(p)
      producedHere++
      kept.push(m)
    }
    if (producedHere > 0 && p.ok === true) {
      produced.set(p.topic.component, (produced.get(p.topic.component) ?? 0) + producedHere)
    }
    for (const d of out.deadLetters) {
      records.push(buildRecord(config.deadLetterTopic, d.key, d.value, { reason: d.reason }))
      origins.push(p)
      dead.set(d.reason, (dead.get(d.reason) ?? 0) + 1)
    }
    if (config.activityTopic !== null) pushActivity(records, origins, config.activityTopic, p, producedHere, kept, limits)
  }
  // Counted when built; a batch that is aborted and re-read counts again (see docs).
  for (const [component, n] of produced) metrics.produced.inc({ component }, n)
  for (const [reason, n] of dead) metrics.deadLetters.inc({ reason }, n)
  return { records, origins }
}

/**
 * The message's activity record, if it names a controller. Its measurements are left out
 * (the count stays) when the record would exceed the topic's limit: liveness must never be
 * lost to a message with very many readings.
 */
function pushActivity (records: KafkaRecord[], origins: Prepared[], topic: string, p: Prepared, rows: number, values: readonly Measurement[], limits: OutputLimits): void {
  if (p.envelope === null) return
  // A decoded topic already names the controller and the mode; anything else is read from the envelope.
  const head: ActivityHead | null = p.ok === true
    ? { device_id: p.topic.mac, received_at: p.envelope.timestamp, mode: p.topic.mode, presence: null, retained: p.envelope.retain }
    : activityHead(p.envelope, p.ok === 'presence' ? p.presence : null)
  if (head === null) return
  const key = Buffer.from(head.device_id)
  let value = encodeActivity(head, rows, values)
  if (value.length + key.length + RECORD_OVERHEAD_BYTES > limits.maxRecordBytes) value = encodeActivity(head, rows, [])
  records.push(buildRecord(topic, key, value))
  origins.push(p)
}
