import { ErrorCodes } from './errors.ts'
import { failure, type Failure } from './result.ts'
import type { F2Topic } from './topic.ts'
import type { RawEnvelope } from './envelope.ts'
import type { SensorDefinition } from './sensor.ts'
import { decodeSensorFrame } from './sensor.ts'
import { parseTimestamp, type DeviceTime } from './timestamp.ts'
import { parseMeasurement, type Measurement } from './measurement.ts'
import { classifyReaderBytes, parsePythonBytesLiteral } from './python-bytes.ts'
import { parseHex } from './hex.ts'
import { normalizeMac } from './topic.ts'

export type DecodeInput = {
  envelope: RawEnvelope
  topic: F2Topic
  /** The sensor wired at the topic's connector/pin; resolved by the caller when needsSensor(topic). */
  sensor: SensorDefinition | null
  /** IANA zone naive device timestamps are read in. */
  zone: string
  /** Device times accepted around the connector's receipt time; none = any valid instant. */
  window?: TimestampWindow
}

/** How far a device time may lie ahead of, or behind, the time the connector received it. */
export type TimestampWindow = { maxAheadMs: number; maxAgeMs: number }
export type DecodeOutput = { measurements: Measurement[]; failures: Failure[] }

/** `datapoint_label` per component (sensors use their DataPoint's Label). See data-models.md. */
export const LABELS = {
  strike: 'strike-status',
  siren: 'siren-status',
  'motion-sensor': 'motion-sensor-status',
  'door-sensors': 'door-sensor',
  'exit-buttons': 'exit-button',
  readerScan: 'scan',
  readerFrame: 'reader-frame'
} as const

/** True when decoding this topic needs the sensor definition from the registry. */
export function needsSensor (topic: F2Topic): boolean {
  return topic.component === 'sensor' && topic.sub === null
}

type Base = Omit<Measurement, 'datapoint_label' | 'pin_position' | 'value'>

function only (f: Failure): DecodeOutput {
  return { measurements: [], failures: [f] }
}

/** Commands are recognised by shape: empty, a bare number, or a `power-flag` object. */
function isCommandPayload (env: RawEnvelope): boolean {
  if (env.payload_encoding === 'text') return String(env.payload).trim() === ''
  if (env.payload_encoding !== 'json') return false
  const p = env.payload
  if (typeof p === 'number') return true
  return typeof p === 'object' && p !== null && !Array.isArray(p) && 'power-flag' in p
}

function flag (v: unknown): 0 | 1 | null {
  if (v === true || v === 1) return 1
  if (v === false || v === 0) return 0
  return null
}

class Collector {
  readonly measurements: Measurement[] = []
  readonly failures: Failure[] = []
  readonly base: Base
  constructor (base: Base) { this.base = base }

  add (label: string, pin: number, value: number | null, extra: Partial<Measurement> = {}): void {
    const r = parseMeasurement({ ...this.base, datapoint_label: label, pin_position: String(pin), value, ...extra })
    if (r.ok) this.measurements.push(r.value)
    else this.failures.push(r.error)
  }

  output (): DecodeOutput {
    return { measurements: this.measurements, failures: this.failures }
  }
}

function decodeStatus (c: Collector, payload: Record<string, unknown>, label: string, position: number): void {
  const v = flag(payload.status)
  if (v === null) c.failures.push(failure(ErrorCodes.PAYLOAD_INVALID, `'status' must be a boolean (or 0/1), got ${typeof payload.status}`, { field: 'status' }))
  else c.add(label, position, v)
}

function decodeSwitches (c: Collector, payload: Record<string, unknown>, prefix: string, label: string): void {
  const re = new RegExp(`^${prefix}-([1-9][0-9]{0,2})$`)
  for (const [key, raw] of Object.entries(payload)) {
    const m = re.exec(key)
    if (m === null) continue
    const v = flag(raw)
    if (v === null) c.failures.push(failure(ErrorCodes.PAYLOAD_INVALID, `'${key}' must be a boolean (or 0/1)`, { field: key }))
    else c.add(label, Number(m[1]), v)
  }
  if (c.measurements.length === 0 && c.failures.length === 0) {
    c.failures.push(failure(ErrorCodes.PAYLOAD_INVALID, `no '${prefix}-<N>' field in the payload`, { expected: `${prefix}-<N>`, keys: Object.keys(payload).slice(0, 20) }))
  }
}

function decodeReader (c: Collector, payload: Record<string, unknown>, position: number): void {
  if (typeof payload.data !== 'string') {
    c.failures.push(failure(ErrorCodes.PAYLOAD_INVALID, "reader payload needs a string 'data' field", { field: 'data' }))
    return
  }
  const bytes = parsePythonBytesLiteral(payload.data)
  if (!bytes.ok) { c.failures.push(bytes.error); return }
  const kind = classifyReaderBytes(bytes.value)
  if (kind.kind === 'scan') c.add(LABELS.readerScan, position, null, { value_text: kind.text })
  else c.add(LABELS.readerFrame, position, null, { value_text: kind.hex })
}

function decodeSensor (c: Collector, payload: Record<string, unknown>, topic: F2Topic, sensor: SensorDefinition | null): void {
  const position = topic.position as number
  if (sensor === null) {
    c.failures.push(failure(ErrorCodes.REGISTRY_UNWIRED_PIN, `no sensor definition for ${topic.mac} J${topic.connector} pin ${position}`, { mac: topic.mac, connector: topic.connector, pin: position }))
    return
  }
  if (normalizeMac(sensor.controllerMac) !== topic.mac || sensor.connectorNumber !== topic.connector || sensor.pinPosition !== position) {
    c.failures.push(failure(ErrorCodes.REGISTRY_UNWIRED_PIN, 'the sensor definition given is for another controller, connector or pin', {
      reason: 'sensor-definition-mismatch', topic: { mac: topic.mac, connector: topic.connector, pin: position },
      sensor: { mac: sensor.controllerMac, connector: sensor.connectorNumber, pin: sensor.pinPosition }
    }))
    return
  }
  if (sensor.dataPoints.length === 0) {
    c.failures.push(failure(ErrorCodes.REGISTRY_NO_DATAPOINTS, `template '${sensor.templateName}' has no data points`, { sensorDeviceId: sensor.sensorDeviceId, template: sensor.templateName }))
    return
  }
  if (typeof payload.data !== 'string') {
    c.failures.push(failure(ErrorCodes.PAYLOAD_INVALID, "sensor payload needs a string 'data' field (hex)", { field: 'data' }))
    return
  }
  const bytes = parseHex(payload.data)
  if (!bytes.ok) { c.failures.push(bytes.error); return }
  const frame = decodeSensorFrame(bytes.value, sensor)
  for (const v of frame.values) {
    c.add(v.def.label, position, v.value, { unit: v.unit, sensor_device_id: sensor.sensorDeviceId, datapoint_id: v.def.dataPointId })
  }
  for (const f of frame.failures) {
    c.failures.push(f.def === null ? f.error : { ...f.error, details: { ...f.error.details, dataPointId: f.def.dataPointId, label: f.def.label } })
  }
}

/**
 * The processor's pure step: one raw envelope (with its parsed topic) to measurements.
 * Never throws; every problem is a Failure. Rules:
 * - `cmnd/` topics: a command payload (empty, a bare number, a `power-flag` object, or any
 *   `…/success` topic) is F2_PAYLOAD_COMMAND; a reading-shaped payload (the seed's simulator
 *   published readings on cmnd/) decodes like tele/stat.
 * - The payload must be a JSON object (text/base64 → F2_PAYLOAD_NOT_JSON, other JSON →
 *   F2_PAYLOAD_INVALID) with a valid `timestamp` (else F2_TIMESTAMP_INVALID; never "now").
 * - Labels: see LABELS; one measurement per reading; sensor data points fail one by one.
 */
export function decodeMessage (input: DecodeInput): DecodeOutput {
  const { envelope, topic, sensor, zone } = input
  if (topic.sub !== null || (topic.kind === 'cmnd' && isCommandPayload(envelope))) {
    return only(failure(ErrorCodes.PAYLOAD_COMMAND, `command on ${envelope.original_topic.slice(0, 200)} (not a reading)`, { topic: envelope.original_topic.slice(0, 1000) }))
  }
  if (envelope.payload_encoding !== 'json') {
    return only(failure(ErrorCodes.PAYLOAD_NOT_JSON, `payload is ${envelope.payload_encoding}, a JSON object was expected`, { payload_encoding: envelope.payload_encoding }))
  }
  const payload = envelope.payload
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    return only(failure(ErrorCodes.PAYLOAD_INVALID, `payload is ${Array.isArray(payload) ? 'an array' : payload === null ? 'null' : typeof payload}, a JSON object was expected`, { reason: 'not-an-object' }))
  }
  const p = payload as Record<string, unknown>
  if (p.timestamp === undefined) return only(failure(ErrorCodes.TIMESTAMP_INVALID, "payload has no 'timestamp'", { reason: 'missing' }))
  const ts = parseTimestamp(p.timestamp, zone)
  if (!ts.ok) return only(ts.error)
  if (input.window !== undefined) {
    const outside = outsideWindow(ts.value, envelope.timestamp, input.window)
    if (outside !== null) return only(outside)
  }
  const c = new Collector(baseOf(envelope, topic, ts.value))
  switch (topic.component) {
    case 'strike':
    case 'siren':
    case 'motion-sensor':
      decodeStatus(c, p, LABELS[topic.component], topic.position as number)
      break
    case 'door-sensors':
      decodeSwitches(c, p, 'door-sensor', LABELS['door-sensors'])
      break
    case 'exit-buttons':
      decodeSwitches(c, p, 'exit-button', LABELS['exit-buttons'])
      break
    case 'reader':
      decodeReader(c, p, topic.position as number)
      break
    case 'sensor':
      decodeSensor(c, p, topic, sensor)
      break
  }
  return c.output()
}

/**
 * F2_TIMESTAMP_OUT_OF_WINDOW when the device time is more than `maxAheadMs` after the receipt
 * time or more than `maxAgeMs` before it (a wrong clock, a replay of ancient data); else null.
 * Future rows would defeat retention and silent-device detection, and scattered times would
 * create a chunk per day they touch.
 */
export function outsideWindow (time: DeviceTime, receivedAt: string, window: TimestampWindow): Failure | null {
  const receivedMs = Date.parse(receivedAt)
  if (Number.isNaN(receivedMs)) return null
  const ahead = time.epochMs - receivedMs
  if (ahead <= window.maxAheadMs && -ahead <= window.maxAgeMs) return null
  const side = ahead > 0 ? 'ahead' : 'behind'
  const limitS = (ahead > 0 ? window.maxAheadMs : window.maxAgeMs) / 1000
  return failure(ErrorCodes.TIMESTAMP_OUT_OF_WINDOW,
    `device time ${time.iso} is ${Math.round(Math.abs(ahead) / 1000)} s ${side} of its receipt at ${receivedAt} (limit ${limitS} s)`,
    { timestamp: time.iso, received_at: receivedAt, side, offset_s: Math.round(ahead / 1000), limit_s: limitS })
}

function baseOf (envelope: RawEnvelope, topic: F2Topic, time: DeviceTime): Base {
  return {
    timestamp: time.iso,
    device_id: topic.mac,
    connector_mode: topic.mode,
    connector: topic.connector,
    unit: '',
    topic: envelope.original_topic,
    value_text: null,
    sensor_device_id: null,
    datapoint_id: null,
    received_at: envelope.timestamp
  }
}
