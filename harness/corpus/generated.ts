import { createRng } from '../../src/core/random.ts'
import type { Result } from '../../src/core/result.ts'
import type { SensorDefinition } from '../../src/core/sensor.ts'
import { formatF2Timestamp } from '../../src/core/timestamp.ts'
import { toRecord } from '../../src/stages/connector/records.ts'
import { finish, prepare, type OutputLimits } from '../../src/stages/processor/transform.ts'
import { schema as processorSchema } from '../../src/stages/processor/config.ts'
import { KAFKA_MESSAGE_MAX_BYTES } from '../../src/adapters/kafka.ts'
import { parseBatch } from '../../src/stages/sink/records.ts'

/**
 * The generated part of the bad-input corpus: `count` seeded random MQTT messages (topics
 * under and outside the F2 grammar, random bytes, boundary sizes, deep JSON, huge numbers),
 * and for each the outcome the pipeline's pure parts predict — the connector's `toRecord`, the
 * processor's `prepare` / `finish` (with the registry's sensor definitions, looked up before
 * anything is sent) and the sink's `parseBatch`. The run (generated-runner.ts) then checks
 * that the real pipeline ends every message exactly so: its rows, its dead letters by reason.
 */
export interface GeneratedMessage {
  /** Index in the generated sequence. */
  i: number
  kind: string
  topic: string
  payload: Buffer
}

/** What a message must end as: row identities and dead letters `stage|reason`. */
export interface Expectation {
  rows: string[]
  deadLetters: string[]
}

/**
 * The identity of a stored row: its primary key. Two messages may map to one row (`tele/` and
 * `stat/` of the same part at the same device time; the key leaves the topic kind out): the
 * sink keeps the first, and both messages are accounted for by it.
 */
export const rowId = (r: { timestamp: string | Date, device_id: string, connector: number | null, connector_mode: string, datapoint_label: string, pin_position: string }): string =>
  `${new Date(r.timestamp).toISOString()}|${r.device_id}|${r.connector ?? 0}|${r.connector_mode}|${r.datapoint_label}|${r.pin_position}`

/** Sensors of the registry the migrations seed (sql/registry): known MACs, connectors and pins. */
const SENSORS = [
  { mac: 'e4fd45f654be', connector: 1, pin: 1, bytes: 6 },
  { mac: 'abc123def456', connector: 2, pin: 2, bytes: 4 }
] as const
const KNOWN_MACS = SENSORS.map(s => s.mac)
const MODES: Record<string, string[]> = {
  'access-control-mode': ['strike-1', 'strike-2', 'door-sensors', 'reader-1', 'reader-2', 'exit-buttons'],
  'alarm-mode': ['siren-1', 'motion-sensor-1', 'motion-sensor-5'],
  'sensor-mode': ['sensor-1', 'sensor-6']
}
/** Connector limits (src/stages/connector/config.ts defaults, which the corpus pipeline runs with). */
export const CONNECTOR_LIMITS = { topic: 'raw', deadLetterTopic: 'dead', maxPayloadBytes: 512 * 1024, deadLetterMaxBytes: 600_000, maxRecordBytes: KAFKA_MESSAGE_MAX_BYTES }
/** The processor's defaults: the record limit and the device-time window it dead-letters outside of. */
const seconds = (v: unknown): number => Number(v) * 1000
export const PROCESSOR_LIMITS: OutputLimits = {
  maxRecordBytes: KAFKA_MESSAGE_MAX_BYTES,
  window: { maxAheadMs: seconds(processorSchema.shape.TIMESTAMP_MAX_AHEAD_S.parse(undefined)), maxAgeMs: seconds(processorSchema.shape.TIMESTAMP_MAX_AGE_S.parse(undefined)) }
}
const HUGE = ['1e308', '-1e308', '1e309', '-1e309', '123456789012345678901234567890', '1e-400', '-0', '9007199254740993', '0.1e999999']

export function generate (count: number, seed: number, baseMs: number): GeneratedMessage[] {
  const rng = createRng(seed)
  const int = (n: number): number => Math.floor(rng() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T
  const hex = (n: number): string => Array.from({ length: n }, () => int(256).toString(16).padStart(2, '0')).join(pick([' ', '']))
  const mac = (): string => rng() < 0.5 ? pick(KNOWN_MACS) : Array.from({ length: 12 }, () => int(16).toString(16)).join('')
  // Printable ASCII and a few non-ASCII letters; no wildcards, no NUL, no control characters
  // (MQTT forbids them in a topic name, so no broker would take such a message at all).
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:;,!@%&*()[]{}<>=~ \'"|\\?é日ß€😀'
  const level = (): string => Array.from({ length: 1 + int(12) }, () => pick([...chars])).join('')
  const stamp = (i: number): string => formatF2Timestamp(baseMs + i, 'UTC')
  const deep = (depth: number): string => rng() < 0.5 ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
  const out: GeneratedMessage[] = []
  for (let i = 0; i < count; i++) {
    const r = rng()
    const ts = stamp(i)
    const gridTopic = (): string => {
      const mode = pick(Object.keys(MODES))
      return `${pick(['tele', 'stat', 'tele', 'stat', 'cmnd'])}/f2-${mac()}/${mode}/J${1 + int(4)}/${pick(MODES[mode] ?? [])}`
    }
    let kind: string
    let topic: string
    let payload: Buffer
    if (r < 0.25) {
      // A registered sensor: valid frames, and frames of the wrong length.
      const s = pick(SENSORS)
      kind = 'sensor'
      topic = `tele/f2-${s.mac}/sensor-mode/J${s.connector}/sensor-${s.pin}`
      const bytes = rng() < 0.8 ? s.bytes : int(12)
      payload = Buffer.from(JSON.stringify({ timestamp: ts, data: hex(bytes) }))
    } else if (r < 0.45) {
      // Anywhere in the grammar, with plausible and implausible JSON.
      kind = 'grammar'
      topic = gridTopic()
      const value = pick<unknown>([true, false, 0, 1, 2, null, 'on', [], {}, 1.5])
      payload = Buffer.from(JSON.stringify(pick<Record<string, unknown>>([
        { timestamp: ts, status: value },
        { timestamp: ts, data: hex(int(8)) },
        { timestamp: ts, 'door-sensor-1': value, 'door-sensor-2': pick([true, false]) },
        { timestamp: ts, 'exit-button-1': value, 'exit-button-2': value },
        { timestamp: ts, data: `b'${'\\x'}${int(256).toString(16).padStart(2, '0')}'` },
        { timestamp: pick([ts, '', 'yesterday', 0, null]), status: true }
      ])))
    } else if (r < 0.6) {
      // Near the grammar: one level wrong.
      kind = 'near-grammar'
      const parts = gridTopic().split('/')
      const k = int(parts.length + 1)
      if (k === parts.length) parts.push(level())
      else parts[k] = pick([level(), parts[k]?.toUpperCase() ?? '', '', 'J9', 'sensor-99', 'f2-zz'])
      topic = parts.join('/')
      payload = Buffer.from(JSON.stringify({ timestamp: ts, status: true }))
    } else if (r < 0.72) {
      kind = 'outside-grammar'
      topic = Array.from({ length: 1 + int(8) }, level).join('/')
      payload = Buffer.from(JSON.stringify({ timestamp: ts, data: hex(6) }))
    } else if (r < 0.84) {
      kind = 'random-bytes'
      topic = rng() < 0.5 ? gridTopic() : Array.from({ length: 1 + int(4) }, level).join('/')
      payload = Buffer.from(Array.from({ length: int(rng() < 0.9 ? 64 : 4096) }, () => int(256)))
    } else if (r < 0.95) {
      kind = 'huge-numbers'
      topic = rng() < 0.5 ? gridTopic() : `tele/f2-${pick(SENSORS).mac}/sensor-mode/J1/sensor-1`
      const n = pick(HUGE)
      payload = Buffer.from(pick([
        `{"timestamp":"${ts}","status":${n}}`,
        `{"timestamp":${n},"status":true}`,
        `{"timestamp":"${ts}","data":${n}}`,
        `${n}`,
        `{"timestamp":"${ts}","door-sensor-1":${n},"door-sensor-2":${n}}`
      ]))
    } else if (r < 0.995) {
      kind = 'deep-json'
      topic = rng() < 0.5 ? gridTopic() : level()
      const depth = pick([10, 100, 1000, 5000, 20_000])
      payload = Buffer.from(rng() < 0.5 ? deep(depth) : `{"timestamp":"${ts}","data":${deep(depth)}}`)
    } else {
      // Sizes at and around the connector's payload limit, and the empty payload.
      kind = 'boundary-size'
      topic = gridTopic()
      const limit = CONNECTOR_LIMITS.maxPayloadBytes
      const size = pick([0, 1, limit - 1, limit, limit + 1, 65_535, 65_536])
      const head = `{"timestamp":"${ts}","status":true,"pad":"`
      payload = size < head.length + 2 ? Buffer.from('{}'.slice(0, size)) : Buffer.from(`${head}${'x'.repeat(size - head.length - 2)}"}`)
    }
    out.push({ i, kind, topic, payload })
  }
  return out
}

/** The sensor keys (mac/connector/pin) the processor will look up for these messages. */
export function sensorKeys (messages: readonly GeneratedMessage[]): string[] {
  const keys = new Set<string>()
  for (const m of messages) {
    const p = prepareOf(m)
    if (p?.ok === true && p.sensorKey !== null) keys.add(p.sensorKey)
  }
  return [...keys]
}

function prepareOf (m: GeneratedMessage): ReturnType<typeof prepare> | undefined {
  const r = toRecord({ topic: m.topic, payload: m.payload, qos: 1, retain: false, receivedAtMs: Date.now() }, CONNECTOR_LIMITS)
  if (r.deadLetterReason !== null) return undefined
  return prepare({ topic: 'raw', partition: 0, offset: 0n, key: r.record.key ?? null, value: r.record.value ?? null })
}

/** What the pipeline must make of `m`, from its pure parts. */
export function expect1 (m: GeneratedMessage, sensors: ReadonlyMap<string, Result<SensorDefinition>>, zone = 'UTC', nowMs = Date.now()): Expectation {
  const r = toRecord({ topic: m.topic, payload: m.payload, qos: 1, retain: false, receivedAtMs: nowMs }, CONNECTOR_LIMITS)
  if (r.deadLetterReason !== null) return { rows: [], deadLetters: [`connector|${r.deadLetterReason}`] }
  const p = prepare({ topic: 'raw', partition: 0, offset: 0n, key: r.record.key ?? null, value: r.record.value ?? null })
  const out = finish(p, sensors, zone, nowMs, PROCESSOR_LIMITS)
  const deadLetters = out.deadLetters.map(d => `processor|${d.reason}`)
  const batch = parseBatch(out.measurements.map((x, k) => ({ topic: 'decoded', partition: 0, offset: BigInt(k), key: null, value: Buffer.from(JSON.stringify(x)) })), nowMs)
  return {
    rows: batch.rows.map(rowId),
    deadLetters: [...deadLetters, ...batch.deadLetters.map(d => `sink|${d.reason}`)]
  }
}
