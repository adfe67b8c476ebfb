import { encodeSensorFrame } from '../../core/sensor.ts'
import { toHex } from '../../core/hex.ts'
import { formatPythonBytesLiteral } from '../../core/python-bytes.ts'
import type { SimConnector, SimController, SimSensor } from './fleet.ts'
import { drift, initialValue } from './quantities.ts'

/**
 * One message a controller publishes. `timestamp` is the F2 timestamp inside the payload.
 * What a frame encodes is kept beside it: `values` by data point label for a sensor reading
 * (before the format's rounding), `text` for a reader scan.
 */
export interface OutMessage { topic: string, payload: string, kind: 'tele' | 'stat', component: string, values?: Readonly<Record<string, number>>, text?: string }

export type Stamp = () => string

/** What a controller remembers between messages: sensor values, inputs, outputs. */
export interface DeviceState {
  controller: SimController
  values: Map<string, number>
  doors: Map<number, [boolean, boolean]>
  exitButtons: Map<number, [boolean, boolean]>
  motion: Map<string, boolean>
  strikes: Map<string, boolean>
  sirens: Map<string, boolean>
  /** Strike toggles in progress: key → timer. */
  toggles: Map<string, NodeJS.Timeout>
  /** Round-robin cursor over the controller's message sources. */
  cursor: number
}

export function createDeviceState (controller: SimController, rng: () => number): DeviceState {
  const values = new Map<string, number>()
  for (const c of controller.connectors) {
    for (const s of c.sensors) for (const q of s.quantities) values.set(valueKey(c, s, q.label), initialValue(q, rng))
  }
  return { controller, values, doors: new Map(), exitButtons: new Map(), motion: new Map(), strikes: new Map(), sirens: new Map(), toggles: new Map(), cursor: 0 }
}

const valueKey = (c: SimConnector, s: SimSensor, label: string): string => `${c.number}/${s.pin}/${label}`

export function base (kind: 'tele' | 'stat' | 'cmnd', mac: string, c: Pick<SimConnector, 'number' | 'mode'>, component: string): string {
  return `${kind}/f2-${mac}/${c.mode}/J${c.number}/${component}`
}

/** A sensor reading: every value drifts a small step (see quantities.ts), then is framed with the sensor's data points. */
export function sensorMessage (state: DeviceState, c: SimConnector, s: SimSensor, rng: () => number, stamp: Stamp): OutMessage {
  const values: Record<string, number> = {}
  for (const q of s.quantities) {
    const key = valueKey(c, s, q.label)
    const next = drift(q, state.values.get(key) ?? q.mean, rng)
    state.values.set(key, next)
    values[q.label] = next
  }
  const frame = encodeSensorFrame(s.dataPoints, values, { address: s.pin })
  return { topic: base('tele', state.controller.mac, c, `sensor-${s.pin}`), payload: JSON.stringify({ timestamp: stamp(), data: toHex(frame).toUpperCase() }), kind: 'tele', component: 'sensor', values }
}

const SCANS = ['Hello World', 'VISITOR-0042', 'https://f2.example/badge/7f3a', '04A224B2C35E80', 'EMP:1187;ZONE:B']

/**
 * The next event-like message of a controller: a door or exit button changing, motion,
 * or a reader scan. Each is a state change (a door reports only when it moved).
 */
export function eventMessage (state: DeviceState, c: SimConnector, rng: () => number, stamp: Stamp): OutMessage {
  const mac = state.controller.mac
  if (c.mode === 'alarm-mode') {
    const pos = 1 + Math.floor(rng() * 2)
    const key = `${c.number}/${pos}`
    const status = !(state.motion.get(key) ?? false)
    state.motion.set(key, status)
    return { topic: base('stat', mac, c, `motion-sensor-${pos}`), payload: JSON.stringify({ timestamp: stamp(), status }), kind: 'stat', component: 'motion-sensor' }
  }
  const r = rng()
  if (r < 0.45) {
    const doors = state.doors.get(c.number) ?? [false, false]
    const i = rng() < 0.5 ? 0 : 1
    doors[i] = !doors[i]
    state.doors.set(c.number, doors)
    return { topic: base('stat', mac, c, 'door-sensors'), payload: JSON.stringify({ timestamp: stamp(), 'door-sensor-1': doors[0], 'door-sensor-2': doors[1] }), kind: 'stat', component: 'door-sensors' }
  }
  if (r < 0.7) {
    const buttons = state.exitButtons.get(c.number) ?? [false, false]
    const i = rng() < 0.5 ? 0 : 1
    buttons[i] = !buttons[i]
    state.exitButtons.set(c.number, buttons)
    return { topic: base('stat', mac, c, 'exit-buttons'), payload: JSON.stringify({ timestamp: stamp(), 'exit-button-1': buttons[0], 'exit-button-2': buttons[1] }), kind: 'stat', component: 'exit-buttons' }
  }
  const scan = SCANS[Math.floor(rng() * SCANS.length)] as string
  const text = JSON.stringify(scan)
  const data = formatPythonBytesLiteral(new TextEncoder().encode(text))
  return { topic: base('tele', mac, c, `reader-${1 + Math.floor(rng() * 2)}`), payload: JSON.stringify({ timestamp: stamp(), data }), kind: 'tele', component: 'reader', text }
}

/**
 * The controller's next message in its own rotation: mostly sensor readings, with events
 * mixed in (about one in four where the controller has access-control or alarm connectors).
 */
export function nextMessage (state: DeviceState, rng: () => number, stamp: Stamp): OutMessage {
  const cs = state.controller.connectors
  const sensors = cs.flatMap(c => c.sensors.map(s => [c, s] as const))
  const eventful = cs.filter(c => c.mode !== 'sensor-mode')
  state.cursor++
  if (sensors.length === 0 || (eventful.length > 0 && rng() < 0.25)) {
    const c = eventful[Math.floor(rng() * eventful.length)]
    if (c !== undefined) return eventMessage(state, c, rng, stamp)
  }
  const [c, s] = sensors[state.cursor % sensors.length] as readonly [SimConnector, SimSensor]
  return sensorMessage(state, c, s, rng, stamp)
}
