import { receivedMsOf, valueKey, type LastValue } from '../../core/activity.ts'
import { formatIso } from '../../core/timestamp.ts'
import { HourWindow } from './window.ts'

/**
 * The fleet's state, kept in memory by the fleet stage: pure, no I/O, no clock (every method
 * takes `nowMs`). Inputs are what the stage reads from Kafka; outputs are the changed
 * controllers (`takeDirty`) and their transitions (`takeEvents`), in the shape of the
 * `device_state` / `device_state_events` tables and the `device_state` topic
 * (sql/timeseries/005_fleet_state.sql).
 *
 * Rules:
 * - liveness comes from every raw message (so undecodable messages count): a message newer
 *   than the controller's last will, received within the offline threshold of `now`, makes it
 *   online (reason 'message'); an older one (a backlog being read after a restart) only moves
 *   `last_seen`, it never flips the state back and forth;
 * - a controller is offline ('silent') once `now - last_seen` exceeds
 *   `expected_interval_s × offlineAfterIntervals`; the transition is dated when the threshold
 *   passed, not when the timer noticed;
 * - a last will (`offline` on tele/f2-<mac>/LWT) makes it offline at once (reason 'will');
 * - last values: per (connector, mode, label, pin) the reading with the newest device time;
 * - rows and dead letters of the last hour are counted at processing time.
 */

export type OfflineReason = 'silent' | 'will'
export type TransitionReason = 'message' | OfflineReason

export type { LastValue } from '../../core/activity.ts'

/** A controller's state: one `device_state` row, one `device_state` record (the value; the key is the MAC). */
export interface DeviceStateRecord {
  device_id: string
  mode: string | null
  online: boolean
  last_seen: string | null
  since: string
  offline_reason: OfflineReason | null
  expected_interval_s: number
  last_values: LastValue[]
  rows_last_hour: number
  dead_letters_last_hour: number
  updated_at: string
}

export interface TransitionEvent {
  device_id: string
  time: string
  online: boolean
  reason: TransitionReason
}

export interface FleetStateOptions {
  /** Expected reporting interval of a controller the registry gives none for. */
  defaultIntervalS: number
  /** Offline after this many expected intervals without a message. */
  offlineAfterIntervals: number
  /** Most distinct data points kept per controller (a bound against a misbehaving device). */
  maxValuesPerDevice: number
}

interface Device {
  mac: string
  mode: string | null
  online: boolean
  /** The last receipt time (epoch ms, to the microsecond); -Infinity: never heard from. */
  lastSeenMs: number
  sinceMs: number
  /** `sinceMs` as written (formatted once per change, not once per write). */
  since: string
  offlineReason: OfflineReason | null
  /** Receipt time of the last will, so that an older message does not undo it. */
  willMs: number
  /** From the registry; null = the default. */
  intervalS: number | null
  values: Map<string, LastValue>
  rows: HourWindow
  deadLetters: HourWindow
  /** Counts restored from a stored record, until they age out of the hour. */
  restoredRows: number
  restoredDeadLetters: number
  restoredUntilMs: number
  /** The counts last handed out, to tell when the moving hour changed them. */
  writtenRows: number
  writtenDeadLetters: number
}

export class FleetState {
  readonly #o: FleetStateOptions
  readonly #devices = new Map<string, Device>()
  /** Changed since the last flush: every change (written at the next flush). */
  #dirty = new Set<string>()
  /** Changed online state (or new): written without waiting for the next regular flush. */
  #urgent = new Set<string>()
  #events: TransitionEvent[] = []

  constructor (options: FleetStateOptions) {
    this.#o = options
  }

  get size (): number { return this.#devices.size }
  get urgent (): number { return this.#urgent.size }
  get dirty (): number { return this.#dirty.size }

  /** Controllers by state. */
  counts (): { online: number, offline: number } {
    let online = 0
    for (const d of this.#devices.values()) if (d.online) online++
    return { online, offline: this.#devices.size - online }
  }

  has (mac: string): boolean {
    return this.#devices.has(mac)
  }

  thresholdMs (mac: string): number {
    const d = this.#devices.get(mac)
    return this.#intervalOf(d) * this.#o.offlineAfterIntervals * 1000
  }

  /** Replaces everything with stored records (at start, or after a rebalance). */
  restore (records: readonly DeviceStateRecord[], nowMs: number): void {
    this.#devices.clear()
    this.#dirty.clear()
    this.#urgent.clear()
    this.#events = []
    for (const r of records) {
      const d = this.#blank(r.device_id, nowMs)
      d.mode = r.mode
      d.online = r.online
      d.lastSeenMs = r.last_seen === null ? Number.NEGATIVE_INFINITY : receivedMsOf(r.last_seen)
      d.sinceMs = Date.parse(r.since)
      d.since = r.since
      d.offlineReason = r.online ? null : r.offline_reason
      d.willMs = r.offline_reason === 'will' && !r.online ? d.sinceMs : Number.NEGATIVE_INFINITY
      for (const v of r.last_values.slice(0, this.#o.maxValuesPerDevice)) d.values.set(valueKey(v), v)
      // The per-bucket history is not stored: the hour's counts stay as they were until the
      // hour after the record was written is over.
      d.restoredRows = r.rows_last_hour
      d.restoredDeadLetters = r.dead_letters_last_hour
      d.restoredUntilMs = Date.parse(r.updated_at) + 3_600_000
      d.writtenRows = r.rows_last_hour
      d.writtenDeadLetters = r.dead_letters_last_hour
      this.#devices.set(d.mac, d)
    }
  }

  /**
   * The registry's controllers and their expected intervals (null = default). A controller
   * not known yet is added, offline ('silent', never seen); one whose interval changed is
   * rewritten. Controllers missing from the registry keep their state (they were heard from).
   */
  setRegistry (intervals: ReadonlyMap<string, number | null>, nowMs: number): void {
    for (const [mac, intervalS] of intervals) {
      let d = this.#devices.get(mac)
      if (d === undefined) {
        d = this.#blank(mac, nowMs)
        d.offlineReason = 'silent'
        this.#devices.set(mac, d)
        this.#mark(mac, true)
      }
      if (d.intervalS !== intervalS) {
        d.intervalS = intervalS
        this.#mark(mac, false)
      }
    }
  }

  /**
   * A message from the controller, received by the connector at `receivedAtMs`. `mode` is the
   * connector mode of its topic, null for a message without one (presence, unknown shapes).
   */
  seen (mac: string, receivedAtMs: number, mode: string | null, nowMs: number): void {
    const d = this.#device(mac, nowMs)
    if (receivedAtMs <= d.lastSeenMs) return
    d.lastSeenMs = receivedAtMs
    if (mode !== null && mode !== d.mode) d.mode = mode
    this.#mark(mac, false)
    if (!d.online && receivedAtMs > d.willMs && nowMs - receivedAtMs < this.thresholdMs(mac)) {
      this.#transition(d, true, 'message', receivedAtMs)
    }
  }

  /** The controller's last will, published by the broker at `receivedAtMs`. */
  will (mac: string, receivedAtMs: number, nowMs: number): void {
    const d = this.#device(mac, nowMs)
    if (receivedAtMs <= d.willMs || receivedAtMs < d.lastSeenMs) return
    d.willMs = receivedAtMs
    if (d.online) this.#transition(d, false, 'will', receivedAtMs)
    else if (d.offlineReason !== 'will') {
      d.offlineReason = 'will'
      this.#mark(mac, true)
    }
  }

  /**
   * The measurements one message produced (`rows` of them; `values` may be fewer, or none, when
   * they did not fit in its activity record). Each updates the last value of its data point if
   * its device time is not older. `keys[i]`, when given, is `valueKey(values[i])` (an activity
   * record carries them, one string per data point, not one per reading).
   */
  readings (mac: string, values: readonly LastValue[], rows: number, nowMs: number, keys?: readonly string[]): void {
    const d = this.#device(mac, nowMs)
    if (rows > 0) d.rows.add(nowMs, rows)
    for (let i = 0; i < values.length; i++) {
      const v = values[i] as LastValue
      const key = keys?.[i] ?? valueKey(v)
      const old = d.values.get(key)
      if (old === undefined) {
        if (d.values.size < this.#o.maxValuesPerDevice) d.values.set(key, lastValue(v))
      } else if (old.timestamp <= v.timestamp) {
        // Updated in place, keeping the strings that did not change: a large fleet's last values
        // live long, and replacing them per reading made the garbage collector most of this
        // stage's work (every replaced value had already been promoted to the old generation).
        old.value = v.value
        old.timestamp = v.timestamp
        if (old.value_text !== v.value_text) old.value_text = v.value_text
        if (old.unit !== v.unit) old.unit = v.unit
      }
    }
    if (rows > 0 || values.length > 0) this.#mark(mac, false)
  }

  /** One dead letter attributed to the controller (from iot_dead_letter). */
  deadLetter (mac: string, nowMs: number): void {
    const d = this.#device(mac, nowMs)
    d.deadLetters.add(nowMs)
    this.#mark(mac, false)
  }

  /** Marks silent controllers offline; returns how many went offline. Run by a timer. */
  tick (nowMs: number): number {
    let n = 0
    for (const d of this.#devices.values()) {
      if (!d.online) continue
      const threshold = this.#intervalOf(d) * this.#o.offlineAfterIntervals * 1000
      if (nowMs - d.lastSeenMs > threshold) {
        this.#transition(d, false, 'silent', d.lastSeenMs + threshold)
        n++
      }
    }
    return n
  }

  /** Marks the controllers whose hour counts changed as the hour moved on; returns how many. */
  touchCounted (nowMs: number): number {
    let n = 0
    for (const d of this.#devices.values()) {
      const { rows, deadLetters } = this.#counts(d, nowMs)
      if (rows !== d.writtenRows || deadLetters !== d.writtenDeadLetters) {
        this.#mark(d.mac, false)
        n++
      }
    }
    return n
  }

  /**
   * The records of changed controllers, and forgets they changed. `urgentOnly`: only those
   * whose online state changed (the others wait for the next regular flush).
   */
  takeDirty (nowMs: number, urgentOnly = false): DeviceStateRecord[] {
    const macs = urgentOnly ? this.#urgent : this.#dirty
    const out: DeviceStateRecord[] = []
    const updatedAt = formatIso(nowMs)
    for (const mac of macs) {
      const d = this.#devices.get(mac)
      if (d !== undefined) out.push(this.#record(d, nowMs, updatedAt))
      this.#dirty.delete(mac)
    }
    this.#urgent = new Set()
    if (!urgentOnly) this.#dirty = new Set()
    return out
  }

  takeEvents (): TransitionEvent[] {
    const out = this.#events
    this.#events = []
    return out
  }

  /** Puts records and events back after a failed flush, so the next flush writes them. */
  requeue (records: readonly DeviceStateRecord[], events: readonly TransitionEvent[]): void {
    for (const r of records) this.#mark(r.device_id, true)
    this.#events = [...events, ...this.#events]
  }

  record (mac: string, nowMs: number): DeviceStateRecord | undefined {
    const d = this.#devices.get(mac)
    return d === undefined ? undefined : this.#record(d, nowMs, formatIso(nowMs))
  }

  /** Every controller's last receipt time (ms; null if never) and state, for metrics. */
  * lastSeen (): Generator<{ mac: string, lastSeenMs: number | null, online: boolean, reason: OfflineReason | null }> {
    for (const d of this.#devices.values()) {
      yield { mac: d.mac, lastSeenMs: Number.isFinite(d.lastSeenMs) ? d.lastSeenMs : null, online: d.online, reason: d.offlineReason }
    }
  }

  #intervalOf (d: Device | undefined): number {
    return d?.intervalS ?? this.#o.defaultIntervalS
  }

  #blank (mac: string, nowMs: number): Device {
    return {
      mac,
      mode: null,
      online: false,
      lastSeenMs: Number.NEGATIVE_INFINITY,
      sinceMs: nowMs,
      since: formatIso(nowMs),
      offlineReason: null,
      willMs: Number.NEGATIVE_INFINITY,
      intervalS: null,
      values: new Map(),
      rows: new HourWindow(),
      deadLetters: new HourWindow(),
      restoredRows: 0,
      restoredDeadLetters: 0,
      restoredUntilMs: Number.NEGATIVE_INFINITY,
      writtenRows: 0,
      writtenDeadLetters: 0
    }
  }

  /** A controller first heard from (not in the registry): starts offline, never seen. */
  #device (mac: string, nowMs: number): Device {
    let d = this.#devices.get(mac)
    if (d === undefined) {
      d = this.#blank(mac, nowMs)
      d.offlineReason = 'silent'
      this.#devices.set(mac, d)
      this.#mark(mac, true)
    }
    return d
  }

  #transition (d: Device, online: boolean, reason: TransitionReason, atMs: number): void {
    d.online = online
    d.offlineReason = online ? null : reason as OfflineReason
    // Never before the previous change: the events of one controller stay in order.
    d.sinceMs = Math.max(atMs, d.sinceMs)
    d.since = formatIso(d.sinceMs)
    this.#events.push({ device_id: d.mac, time: d.since, online, reason })
    this.#mark(d.mac, true)
  }

  #mark (mac: string, urgent: boolean): void {
    this.#dirty.add(mac)
    if (urgent) this.#urgent.add(mac)
  }

  #counts (d: Device, nowMs: number): { rows: number, deadLetters: number } {
    const restored = d.restoredUntilMs > nowMs
    return {
      rows: d.rows.sum(nowMs) + (restored ? d.restoredRows : 0),
      deadLetters: d.deadLetters.sum(nowMs) + (restored ? d.restoredDeadLetters : 0)
    }
  }

  #record (d: Device, nowMs: number, updatedAt: string): DeviceStateRecord {
    const { rows, deadLetters } = this.#counts(d, nowMs)
    d.writtenRows = rows
    d.writtenDeadLetters = deadLetters
    return {
      device_id: d.mac,
      mode: d.mode,
      online: d.online,
      // Formatted when written, not per message: most messages only move it.
      last_seen: Number.isFinite(d.lastSeenMs) ? formatIso(d.lastSeenMs) : null,
      since: d.since,
      offline_reason: d.online ? null : d.offlineReason,
      expected_interval_s: this.#intervalOf(d),
      last_values: [...d.values.values()],
      rows_last_hour: rows,
      dead_letters_last_hour: deadLetters,
      updated_at: updatedAt
    }
  }
}

/** Only the fields a last value keeps (a measurement carries more). */
function lastValue (v: LastValue): LastValue {
  return {
    connector: v.connector,
    connector_mode: v.connector_mode,
    datapoint_label: v.datapoint_label,
    pin_position: v.pin_position,
    value: v.value,
    value_text: v.value_text,
    unit: v.unit,
    timestamp: v.timestamp
  }
}
