import type { RawEnvelope } from './envelope.ts'
import { isCanonicalInstant } from './iso-instant.ts'
import type { Measurement } from './measurement.ts'
import type { Presence } from './presence.ts'
import { CONNECTOR_MODES, extractMac, normalizeMac, parsePresenceTopic, type ConnectorMode } from './topic.ts'

/** What the fleet state keeps of a reading: its data point, value and device time. */
export type LastValue = Pick<Measurement, 'connector' | 'connector_mode' | 'datapoint_label' | 'pin_position' | 'value' | 'value_text' | 'unit' | 'timestamp'>

/** What the processor knows of a message before decoding it: who sent it, when, in which mode. */
export interface ActivityHead {
  /** The controller's MAC, 12 lower-case hex digits. */
  device_id: string
  /** The connector's receipt time (the envelope's `timestamp`) in epoch ms, to the microsecond. */
  receivedMs: number
  /** The connector mode of the message's topic; null for a message without one (presence, unknown shapes). */
  mode: ConnectorMode | null
  /** Set for a presence message (`tele/f2-<mac>/LWT`). */
  presence: Presence | null
  /** Replayed by the broker from its retained store: says nothing about the controller now. */
  retained: boolean
}

/**
 * One raw message as the fleet state sees it. The processor writes one for every raw message
 * that names a controller, in the same transaction as the message's measurements and dead
 * letters; a `device_activity` record holds those of consecutive messages of one `raw_iot_data`
 * partition, in their order. Few records, not one per message: a Kafka record costs the
 * producer, the broker and the consumer far more than an activity's few dozen bytes
 * (docs/architecture/fleet-state.md).
 */
export interface Activity extends ActivityHead {
  /** Measurements the message produced on `decoded_iot_data`. */
  rows: number
  /** Those measurements' last values; empty when they would not fit in a record. */
  values: LastValue[]
  /** `keys[i]` is `valueKey(values[i])`, shared by every value of a data point in a record. */
  keys: string[]
}

const MODE_INDEX: ReadonlyMap<string, number> = new Map(CONNECTOR_MODES.map((m, i) => [m, i]))

/** A data point's identity among a controller's last values: connector, mode, label, pin. */
export function valueKey (v: Pick<LastValue, 'connector' | 'connector_mode' | 'datapoint_label' | 'pin_position'>): string {
  return `${v.connector ?? ''}\u0000${v.connector_mode}\u0000${v.datapoint_label}\u0000${v.pin_position}`
}

/**
 * An envelope's receipt time in epoch ms. Date.parse stops at the millisecond; the
 * connector's canonical form carries microseconds, kept as the fraction (formatIso gives the
 * same text back).
 */
export function receivedMsOf (timestamp: string): number {
  const ms = Date.parse(timestamp)
  return isCanonicalInstant(timestamp) ? ms + Number(timestamp.slice(23, 26)) / 1000 : ms
}

/**
 * The head of a raw message's activity, or null when it names no controller. The MAC is taken
 * from a presence topic, else the envelope's device id, else the topic: the order the
 * connector fills them in.
 */
export function activityHead (env: RawEnvelope, presence: Presence | null): ActivityHead | null {
  const presenceMac = parsePresenceTopic(env.original_topic)
  const mac = presenceMac ?? (env.device_id === null ? null : normalizeMac(env.device_id)) ?? extractMac(env.original_topic)
  const receivedMs = receivedMsOf(env.timestamp)
  if (mac === null || !Number.isFinite(receivedMs)) return null
  const level = env.original_topic.split('/', 3)[2]
  return {
    device_id: mac,
    receivedMs,
    mode: level !== undefined && MODE_INDEX.has(level) ? level as ConnectorMode : null,
    presence: presenceMac === null ? null : presence,
    retained: env.retain
  }
}

/*
 * A `device_activity` record, version 2 (integers little-endian):
 *
 *   u8 2 | u32 n, then n bytes: the record's strings, a JSON array (UTF-8)
 *   u32 data points, each: f64 connector (NaN: none) | u32 mode | u32 label | u32 pin | u32 unit
 *   u32 activities, each: 6 bytes MAC | f64 receipt time (epoch ms) | u8 mode (255: none)
 *     | u8 presence (0 none, 1 online, 2 offline) | u8 retained | u32 rows | u32 values,
 *     each value: u32 data point | f64 value (NaN: null) | u32 text (2^32-1: null) | u32 device time
 *
 * (string and data point fields are indexes into the record's tables). Binary with a string
 * table because the fleet stage reads every message's activity: a record of a few hundred
 * activities costs one JSON.parse of its few distinct strings, and every value of a data point
 * shares its strings and key, where JSON objects made the stage allocate (and collect) some
 * forty strings and objects per message. Version 1 (JSON, `{"schema_version":1,…}`) is still
 * read, so records written before an upgrade keep their meaning.
 */
const VERSION = 2
const NONE = 0xffffffff
const NO_MODE = 0xff
const PRESENCE: ReadonlyArray<Presence | null> = [null, 'online', 'offline']
/** Version, string table length, data point count, activity count. */
export const EMPTY_ACTIVITY_RECORD_BYTES = 1 + 4 + 2 + 4 + 4
const ACTIVITY_BYTES = 6 + 8 + 1 + 1 + 1 + 4 + 4
const VALUE_BYTES = 4 + 8 + 4 + 4
const DATA_POINT_BYTES = 8 + 4 * 4
const MAC_RE = /^[0-9a-f]{12}$/

/** Bytes of one string in the JSON table, at most (every UTF-16 unit escaped, quotes, comma). */
const stringBound = (s: string): number => 6 * s.length + 3

/**
 * The most bytes ActivityWriter.add can add for an activity with these values: every string
 * and data point counted as new to the record. Checked before adding, so a record never
 * outgrows its limit.
 */
export function activityBound (values: readonly LastValue[]): number {
  let n = ACTIVITY_BYTES
  for (const v of values) {
    n += VALUE_BYTES + DATA_POINT_BYTES + stringBound(v.connector_mode) + stringBound(v.datapoint_label) + stringBound(v.pin_position) +
      stringBound(v.unit) + stringBound(v.timestamp) + (v.value_text === null ? 0 : stringBound(v.value_text))
  }
  return n
}

/** Builds one `device_activity` record, activity by activity. */
export class ActivityWriter {
  readonly #strings: string[] = []
  readonly #stringIndex = new Map<string, number>()
  #tableBytes = 2
  readonly #points: number[] = []
  readonly #pointIndex = new Map<string, number>()
  #body = Buffer.allocUnsafe(4096)
  #length = 0
  #count = 0

  /** The record's size so far, exactly. */
  get bytes (): number {
    return EMPTY_ACTIVITY_RECORD_BYTES - 2 + this.#tableBytes + this.#pointIndex.size * DATA_POINT_BYTES + this.#length
  }

  get count (): number { return this.#count }

  /** Appends a message's activity; `values` must be validated measurements (finite values, canonical times). */
  add (head: ActivityHead, rows: number, values: readonly LastValue[]): void {
    if (!MAC_RE.test(head.device_id) || !Number.isFinite(head.receivedMs) || !Number.isInteger(rows) || rows < 0) {
      throw new TypeError(`activity of ${head.device_id}: not a normalised MAC, a finite receipt time and a row count`)
    }
    this.#reserve(ACTIVITY_BYTES + values.length * VALUE_BYTES)
    const b = this.#body
    let o = this.#length
    b.write(head.device_id, o, 6, 'hex')
    o = b.writeDoubleLE(head.receivedMs, o + 6)
    b[o++] = head.mode === null ? NO_MODE : MODE_INDEX.get(head.mode) ?? NO_MODE
    b[o++] = head.presence === null ? 0 : head.presence === 'online' ? 1 : 2
    b[o++] = head.retained ? 1 : 0
    o = b.writeUInt32LE(rows, o)
    o = b.writeUInt32LE(values.length, o)
    for (const v of values) {
      o = b.writeUInt32LE(this.#point(v), o)
      o = b.writeDoubleLE(v.value ?? Number.NaN, o)
      o = b.writeUInt32LE(v.value_text === null ? NONE : this.#string(v.value_text), o)
      o = b.writeUInt32LE(this.#string(v.timestamp), o)
    }
    this.#length = o
    this.#count++
  }

  /** The record's value. */
  finish (): Buffer {
    const table = Buffer.from(JSON.stringify(this.#strings))
    const points = this.#pointIndex.size
    const out = Buffer.allocUnsafe(1 + 4 + table.length + 4 + points * DATA_POINT_BYTES + 4 + this.#length)
    out[0] = VERSION
    let o = out.writeUInt32LE(table.length, 1)
    o += table.copy(out, o)
    o = out.writeUInt32LE(points, o)
    for (let i = 0; i < this.#points.length; i += 5) {
      o = out.writeDoubleLE(this.#points[i] as number, o)
      for (let j = 1; j < 5; j++) o = out.writeUInt32LE(this.#points[i + j] as number, o)
    }
    o = out.writeUInt32LE(this.#count, o)
    this.#body.copy(out, o, 0, this.#length)
    return out
  }

  #reserve (bytes: number): void {
    if (this.#length + bytes <= this.#body.length) return
    const grown = Buffer.allocUnsafe(Math.max(this.#body.length * 2, this.#length + bytes))
    this.#body.copy(grown, 0, 0, this.#length)
    this.#body = grown
  }

  #string (s: string): number {
    let i = this.#stringIndex.get(s)
    if (i === undefined) {
      i = this.#strings.length
      this.#strings.push(s)
      this.#stringIndex.set(s, i)
      this.#tableBytes += Buffer.byteLength(JSON.stringify(s)) + (i === 0 ? 0 : 1)
    }
    return i
  }

  #point (v: LastValue): number {
    const key = `${valueKey(v)}\u0000${v.unit}`
    let i = this.#pointIndex.get(key)
    if (i === undefined) {
      i = this.#pointIndex.size
      this.#pointIndex.set(key, i)
      this.#points.push(v.connector ?? Number.NaN, this.#string(v.connector_mode), this.#string(v.datapoint_label), this.#string(v.pin_position), this.#string(v.unit))
    }
    return i
  }
}

/** A record's activities, and how many of its entries were not activities (skipped; counted by the reader). */
export interface DecodedActivities { activities: Activity[], invalid: number }

/**
 * A `device_activity` record (version 2, or 1): its activities, and how many of its entries
 * were not valid activities. Null when the record itself is not one (unknown version,
 * truncated, a broken table).
 */
export function decodeActivities (value: Buffer | null | undefined): DecodedActivities | null {
  if (value === null || value === undefined || value.length === 0) return null
  if (value[0] === VERSION) {
    try {
      return decodeV2(value)
    } catch {
      // A read past the end: a truncated record.
      return null
    }
  }
  return value[0] === 0x7b ? decodeV1(value) : null
}

interface DataPoint { connector: number | null, connector_mode: string, datapoint_label: string, pin_position: string, unit: string, key: string }

function decodeV2 (b: Buffer): DecodedActivities | null {
  const tableBytes = b.readUInt32LE(1)
  let o = 5 + tableBytes
  if (o > b.length) return null
  let strings: unknown
  try {
    strings = JSON.parse(b.toString('utf8', 5, o))
  } catch {
    return null
  }
  if (!Array.isArray(strings) || !strings.every(s => typeof s === 'string')) return null
  const table = strings as string[]
  const str = (i: number): string | undefined => table[i]
  const pointCount = b.readUInt32LE(o)
  o += 4
  const points: Array<DataPoint | null> = []
  for (let i = 0; i < pointCount; i++) {
    const c = b.readDoubleLE(o)
    const [mode, label, pin, unit] = [str(b.readUInt32LE(o + 8)), str(b.readUInt32LE(o + 12)), str(b.readUInt32LE(o + 16)), str(b.readUInt32LE(o + 20))]
    o += DATA_POINT_BYTES
    const connector = Number.isNaN(c) ? null : c
    if ((connector !== null && !Number.isInteger(connector)) || mode === undefined || label === undefined || pin === undefined || unit === undefined) points.push(null)
    else points.push({ connector, connector_mode: mode, datapoint_label: label, pin_position: pin, unit, key: valueKey({ connector, connector_mode: mode, datapoint_label: label, pin_position: pin }) })
  }
  // Device times are checked once per string: 0 not yet, 1 canonical, 2 not.
  const times = new Uint8Array(table.length)
  const count = b.readUInt32LE(o)
  o += 4
  const activities: Activity[] = []
  let invalid = 0
  for (let n = 0; n < count; n++) {
    const device_id = b.toString('hex', o, o + 6)
    const receivedMs = b.readDoubleLE(o + 6)
    const modeByte = b[o + 14] as number
    const presenceByte = b[o + 15] as number
    const retainedByte = b[o + 16] as number
    const rows = b.readUInt32LE(o + 17)
    const valueCount = b.readUInt32LE(o + 21)
    o += ACTIVITY_BYTES
    if (o + valueCount * VALUE_BYTES > b.length) return null
    let ok = Number.isFinite(receivedMs) && (modeByte === NO_MODE || modeByte < CONNECTOR_MODES.length) && presenceByte <= 2 && retainedByte <= 1
    const values: LastValue[] = []
    const keys: string[] = []
    for (let i = 0; i < valueCount; i++, o += VALUE_BYTES) {
      const p = points[b.readUInt32LE(o)]
      const value = b.readDoubleLE(o + 4)
      const textIndex = b.readUInt32LE(o + 12)
      const text = textIndex === NONE ? null : str(textIndex)
      const timeIndex = b.readUInt32LE(o + 16)
      const timestamp = str(timeIndex)
      if (timestamp !== undefined && times[timeIndex] === 0) times[timeIndex] = isCanonicalInstant(timestamp) ? 1 : 2
      if (p === null || p === undefined || !(Number.isFinite(value) || Number.isNaN(value)) || text === undefined || timestamp === undefined || times[timeIndex] !== 1) {
        ok = false
        continue
      }
      values.push({ connector: p.connector, connector_mode: p.connector_mode, datapoint_label: p.datapoint_label, pin_position: p.pin_position, value: Number.isNaN(value) ? null : value, value_text: text, unit: p.unit, timestamp })
      keys.push(p.key)
    }
    if (!ok) {
      invalid++
      continue
    }
    activities.push({
      device_id,
      receivedMs,
      mode: modeByte === NO_MODE ? null : CONNECTOR_MODES[modeByte] as ConnectorMode,
      presence: PRESENCE[presenceByte] as Presence | null,
      retained: retainedByte === 1,
      rows,
      values,
      keys
    })
  }
  return o === b.length ? { activities, invalid } : null
}

/** A version 1 record: `{"schema_version":1,"activities":[…]}`, each activity a JSON object. */
function decodeV1 (value: Buffer): DecodedActivities | null {
  let r: unknown
  try {
    r = JSON.parse(value.toString('utf8'))
  } catch {
    return null
  }
  if (typeof r !== 'object' || r === null) return null
  const record = r as Record<string, unknown>
  if (record.schema_version !== 1 || !Array.isArray(record.activities)) return null
  const activities: Activity[] = []
  let invalid = 0
  for (const entry of record.activities as unknown[]) {
    const a = activityV1(entry)
    if (a === null) invalid++
    else activities.push(a)
  }
  return { activities, invalid }
}

/**
 * One version 1 value, `[connector, mode, label, pin, value, text, unit, device time]`, checked
 * field by field: the types of a measurement the processor validated, and a canonical device
 * time (so that times compare as strings).
 */
function lastValueV1 (o: unknown): LastValue | null {
  if (!Array.isArray(o) || o.length !== 8) return null
  const [connector, mode, label, pin, value, text, unit, timestamp] = o as unknown[]
  if ((connector !== null && !Number.isInteger(connector)) || typeof mode !== 'string' || typeof label !== 'string' || typeof pin !== 'string') return null
  if ((value !== null && (typeof value !== 'number' || !Number.isFinite(value))) || (text !== null && typeof text !== 'string')) return null
  if (typeof unit !== 'string' || typeof timestamp !== 'string' || !isCanonicalInstant(timestamp)) return null
  return { connector: connector as number | null, connector_mode: mode, datapoint_label: label, pin_position: pin, value: value as number | null, value_text: text as string | null, unit, timestamp }
}

/** One version 1 activity, checked field by field. */
function activityV1 (entry: unknown): Activity | null {
  if (typeof entry !== 'object' || entry === null) return null
  const a = entry as Record<string, unknown>
  const mac = typeof a.device_id === 'string' ? normalizeMac(a.device_id) : null
  const receivedMs = typeof a.received_at === 'string' ? receivedMsOf(a.received_at) : Number.NaN
  if (mac === null || !Number.isFinite(receivedMs)) return null
  if (a.mode !== null && (typeof a.mode !== 'string' || !MODE_INDEX.has(a.mode))) return null
  if (a.presence !== null && a.presence !== 'online' && a.presence !== 'offline') return null
  if (typeof a.retained !== 'boolean' || !Number.isInteger(a.rows) || (a.rows as number) < 0 || !Array.isArray(a.values)) return null
  const values: LastValue[] = []
  for (const v of a.values as unknown[]) {
    const lv = lastValueV1(v)
    if (lv === null) return null
    values.push(lv)
  }
  return { device_id: mac, receivedMs, mode: a.mode as ConnectorMode | null, presence: a.presence, retained: a.retained, rows: a.rows as number, values, keys: values.map(valueKey) }
}
