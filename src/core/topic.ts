import { ErrorCodes } from './errors.ts'
import { fail, ok, type Result } from './result.ts'

export type TopicKind = 'tele' | 'stat' | 'cmnd'
export type ConnectorMode = 'access-control-mode' | 'alarm-mode' | 'sensor-mode'
export type ComponentKind = 'strike' | 'door-sensors' | 'reader' | 'exit-buttons' | 'siren' | 'motion-sensor' | 'sensor'

/** A parsed F2 topic: `<kind>/f2-<mac>/<mode>/J<connector>/<component>[-<position>][/<sub>]`. */
export type F2Topic = {
  kind: TopicKind
  /** 12 lowercase hex digits, no separators. */
  mac: string
  mode: ConnectorMode
  /** 1..4 (from `J1`..`J4`, or a bare digit). */
  connector: number
  component: ComponentKind
  /** Position of the part on its connector; null for `door-sensors` and `exit-buttons`. */
  position: number | null
  sub: 'success' | null
}

export const TOPIC_KINDS: readonly TopicKind[] = ['tele', 'stat', 'cmnd']
export const CONNECTOR_MODES: readonly ConnectorMode[] = ['access-control-mode', 'alarm-mode', 'sensor-mode']
export const CONNECTOR_MIN = 1
export const CONNECTOR_MAX = 4

/** Which components a connector in a given mode carries (f2-protocol.md tables). */
export const COMPONENTS_BY_MODE: Readonly<Record<ConnectorMode, readonly ComponentKind[]>> = {
  'access-control-mode': ['strike', 'door-sensors', 'reader', 'exit-buttons'],
  'alarm-mode': ['siren', 'motion-sensor'],
  'sensor-mode': ['sensor']
}

/** Highest position per positioned component; null = the component has no position suffix. */
export const POSITION_MAX: Readonly<Record<ComponentKind, number | null>> = {
  strike: 2,
  'door-sensors': null,
  reader: 2,
  'exit-buttons': null,
  siren: 2,
  'motion-sensor': 5,
  sensor: 6
}

const COMPONENT_RE = /^(strike|reader|siren|motion-sensor|sensor)-(\d+)$/
const TOKEN_RE = /^[A-Za-z0-9_.-]+$/

/**
 * Normalises a MAC address to 12 lowercase hex digits. Accepts plain hex in any case
 * and the colon form (`E4:FD:45:F6:54:BE`); anything else gives null.
 */
export function normalizeMac (input: string): string | null {
  const s = input.trim()
  let hex: string
  if (/^[0-9A-Fa-f]{12}$/.test(s)) hex = s
  else if (/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/.test(s)) hex = s.replaceAll(':', '')
  else return null
  return hex.toLowerCase()
}

/**
 * normalizeMac for a MAC typed by a person or stored by one in the registry: ':' and '-'
 * are dropped wherever they stand (`E4:FD:45-F6:54:BE`, `e4-fd-45-f6-54-be`), then the
 * strict rules apply. Topics never go through this: a device spells its MAC one way.
 */
export function normalizeMacLenient (input: string): string | null {
  return normalizeMac(input.replace(/[:-]/g, ''))
}

/**
 * The controller MAC of a topic whose second level is `f2-<mac>`, whatever the rest of
 * the topic looks like (so unknown components can still be attributed to a device).
 */
export function extractMac (topic: string): string | null {
  // Once or twice per message in the connector: no split, no lower-casing of the level.
  const start = topic.indexOf('/') + 1
  if (start === 0) return null
  const end = topic.indexOf('/', start)
  const level = end === -1 ? topic.slice(start) : topic.slice(start, end)
  const f = level.charCodeAt(0)
  if ((f !== 0x66 && f !== 0x46) || level.charCodeAt(1) !== 0x32 || level.charCodeAt(2) !== 0x2d) return null
  return normalizeMac(level.slice(3))
}

function invalid (topic: string, reason: string, extra: Record<string, unknown> = {}): Result<never> {
  return fail(ErrorCodes.TOPIC_INVALID, `invalid F2 topic (${reason}): ${topic.slice(0, 200)}`, { reason, topic: topic.slice(0, 1000), ...extra })
}

function parseConnector (level: string): number | null {
  const m = /^[Jj]?([0-9])$/.exec(level)
  if (m === null) return null
  const n = Number(m[1])
  return n >= CONNECTOR_MIN && n <= CONNECTOR_MAX ? n : null
}

/**
 * Parses an F2 topic. Never throws. An unknown component (e.g. a BLE beacon) on an
 * otherwise valid topic gives F2_TOPIC_UNKNOWN_COMPONENT with kind/mac/mode/connector in
 * `details`; every other deviation gives F2_TOPIC_INVALID with `details.reason`.
 */
export function parseTopic (topic: string): Result<F2Topic> {
  if (typeof topic !== 'string') return invalid(String(topic), 'not-a-string')
  const levels = topic.split('/')
  if (levels.length < 5) return invalid(topic, 'too-few-levels', { levels: levels.length })
  if (levels.length > 6) return invalid(topic, 'too-many-levels', { levels: levels.length })
  const [kindL, deviceL, modeL, connectorL, componentL, subL] = levels as [string, string, string, string, string, string | undefined]

  if (!(TOPIC_KINDS as readonly string[]).includes(kindL)) return invalid(topic, 'unknown-kind', { kind: kindL })
  const kind = kindL as TopicKind
  if (!deviceL.toLowerCase().startsWith('f2-')) return invalid(topic, 'device-level-not-f2')
  const mac = normalizeMac(deviceL.slice(3))
  if (mac === null) return invalid(topic, 'invalid-mac', { device: deviceL })
  if (!(CONNECTOR_MODES as readonly string[]).includes(modeL)) return invalid(topic, 'unknown-mode', { mode: modeL })
  const mode = modeL as ConnectorMode
  const connector = parseConnector(connectorL)
  if (connector === null) return invalid(topic, 'invalid-connector', { connector: connectorL })

  const located = { kind, mac, mode, connector }
  let component: ComponentKind
  let position: number | null = null
  const m = COMPONENT_RE.exec(componentL)
  if (componentL === 'door-sensors' || componentL === 'exit-buttons') {
    component = componentL
  } else if (m !== null) {
    component = m[1] as ComponentKind
    const digits = m[2] as string
    position = Number(digits)
    const max = POSITION_MAX[component] as number
    if (digits.length > 1 && digits.startsWith('0')) return invalid(topic, 'invalid-position', { ...located, component, position: digits })
    if (position < 1 || position > max) return invalid(topic, 'position-out-of-range', { ...located, component, position, max })
  } else if (/^(strike|reader|siren|motion-sensor|sensor)$/.test(componentL) || /^(door-sensors|exit-buttons)-/.test(componentL)) {
    return invalid(topic, 'invalid-position', { ...located, component: componentL })
  } else if (TOKEN_RE.test(componentL)) {
    return fail(ErrorCodes.TOPIC_UNKNOWN_COMPONENT, `unknown F2 component '${componentL.slice(0, 100)}'`, { ...located, component: componentL.slice(0, 100), topic: topic.slice(0, 1000) })
  } else {
    return invalid(topic, 'invalid-component', located)
  }

  if (!COMPONENTS_BY_MODE[mode].includes(component)) return invalid(topic, 'component-not-in-mode', { ...located, component })

  let sub: 'success' | null = null
  if (subL !== undefined) {
    if (subL !== 'success') return invalid(topic, 'unknown-sub-level', { ...located, component, sub: subL.slice(0, 100) })
    if (component !== 'reader' || kind !== 'cmnd') return invalid(topic, 'sub-level-not-allowed', { ...located, component, sub: subL })
    sub = 'success'
  }
  return ok({ kind, mac, mode, connector, component, position, sub })
}

/** The component level of a topic: `strike-1`, `door-sensors`, … */
export function componentLevel (t: Pick<F2Topic, 'component' | 'position'>): string {
  return t.position === null ? t.component : `${t.component}-${t.position}`
}

/** Formats a topic in the spec's canonical form (`J<n>` connector, lowercase MAC). */
export function formatTopic (t: F2Topic): string {
  const base = `${t.kind}/f2-${t.mac}/${t.mode}/J${t.connector}/${componentLevel(t)}`
  return t.sub === null ? base : `${base}/${t.sub}`
}

/**
 * The last level of a controller's presence topic `tele/f2-<mac>/LWT` (the Tasmota
 * convention): the controller publishes `online` there, retained, when it connects, and sets
 * `offline` there as its MQTT last will, so the broker marks it offline the moment its
 * connection is lost. See docs/architecture/mqtt_topics.md.
 */
export const PRESENCE_LEVEL = 'LWT'

/** The presence topic of a controller (`mac`: 12 lowercase hex). */
export function presenceTopic (mac: string): string {
  return `tele/f2-${mac}/${PRESENCE_LEVEL}`
}

/** The controller MAC when `topic` is a presence topic (`tele/f2-<mac>/LWT`), else null. */
export function parsePresenceTopic (topic: string): string | null {
  if (!topic.startsWith('tele/') || !topic.endsWith(`/${PRESENCE_LEVEL}`)) return null
  const levels = topic.split('/')
  if (levels.length !== 3) return null
  const device = levels[1] as string
  if (!device.toLowerCase().startsWith('f2-')) return null
  return normalizeMac(device.slice(3))
}
