import { performance } from 'node:perf_hooks'
import { buildRecord, RECORD_OVERHEAD_BYTES, type KafkaRecord } from '../../adapters/kafka.ts'
import { activityBound, activityHead, ActivityWriter, EMPTY_ACTIVITY_RECORD_BYTES, receivedMsOf, type ActivityHead, type LastValue } from '../../core/activity.ts'
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
 * the activity of every message that names a controller (src/core/activity.ts), presence
 * messages included, gathered into a few records (ActivityRecords). Counts presence messages,
 * decode latency (the sensor lookup included), measurements and dead letters as it builds.
 */
export function buildOutputs (prepared: Prepared[], sensors: Map<string, Result<SensorDefinition>>, lookupSeconds: Map<string, number>, ctx: OutputContext): Outputs {
  const { config, metrics, limits } = ctx
  const now = ctx.nowMs
  const records: KafkaRecord[] = []
  const origins: Prepared[] = []
  const produced = new Map<string, number>()
  const dead = new Map<string, number>()
  const activity = config.activityTopic === null ? undefined : new ActivityRecords(config.activityTopic, limits, records, origins)
  for (const p of prepared) {
    if (p.ok === 'presence') {
      metrics.presence.inc({ state: p.presence })
      activity?.add(p, 0, [])
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
    activity?.add(p, producedHere, kept)
  }
  // Counted when built; a batch that is aborted and re-read counts again (see docs).
  activity?.flush()
  for (const [component, n] of produced) metrics.produced.inc({ component }, n)
  for (const [reason, n] of dead) metrics.deadLetters.inc({ reason }, n)
  return { records, origins }
}

/** Most bytes of activities in one record (a few hundred messages), far under any record limit. */
export const ACTIVITY_RECORD_BYTES = 256 * 1024
const MAX_KEY_BYTES = 16

/**
 * The batch's activities, one per message that names a controller, gathered per
 * `raw_iot_data` partition into records of at most ACTIVITY_RECORD_BYTES, keyed by that
 * partition's number: one partition's activities land in one partition of the topic, in
 * order. A message's values are left out (its count stays) when its activity alone would not
 * fit: liveness must never be lost to a message with very many readings.
 */
class ActivityRecords {
  readonly #topic: string
  readonly #limit: number
  readonly #open = new Map<number, { writer: ActivityWriter, origin: Prepared }>()
  readonly #records: KafkaRecord[]
  readonly #origins: Prepared[]

  constructor (topic: string, limits: OutputLimits, records: KafkaRecord[], origins: Prepared[]) {
    this.#topic = topic
    // Room for the record's framing and the key (a partition number).
    this.#limit = Math.min(ACTIVITY_RECORD_BYTES, limits.maxRecordBytes - RECORD_OVERHEAD_BYTES - MAX_KEY_BYTES)
    this.#records = records
    this.#origins = origins
  }

  add (p: Prepared, rows: number, values: readonly LastValue[]): void {
    if (p.envelope === null) return
    // A decoded topic already names the controller and the mode; anything else is read from the envelope.
    const head: ActivityHead | null = p.ok === true
      ? { device_id: p.topic.mac, receivedMs: receivedMsOf(p.envelope.timestamp), mode: p.topic.mode, presence: null, retained: p.envelope.retain }
      : activityHead(p.envelope, p.ok === 'presence' ? p.presence : null)
    if (head === null) return
    let kept = values
    let bound = activityBound(kept)
    if (EMPTY_ACTIVITY_RECORD_BYTES + bound > this.#limit) {
      kept = []
      bound = activityBound(kept)
    }
    const partition = p.record.partition
    let open = this.#open.get(partition)
    if (open !== undefined && open.writer.bytes + bound > this.#limit) {
      this.#close(open)
      open = undefined
    }
    if (open === undefined) this.#open.set(partition, open = { writer: new ActivityWriter(), origin: p })
    open.writer.add(head, rows, kept)
  }

  /** Writes out what is still gathered (at the end of the batch). */
  flush (): void {
    for (const open of this.#open.values()) this.#close(open)
    this.#open.clear()
  }

  #close (open: { writer: ActivityWriter, origin: Prepared }): void {
    this.#records.push(buildRecord(this.#topic, Buffer.from(String(open.origin.record.partition)), open.writer.finish()))
    // A record the broker refuses is replaced by a dead letter of its first message (isolate.ts).
    this.#origins.push(open.origin)
  }
}
