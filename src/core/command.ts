import { ErrorCodes, F2Error } from './errors.ts'
import { isReaderReplyFrame, parsePythonBytesLiteral } from './python-bytes.ts'
import { CONNECTOR_MAX, CONNECTOR_MIN, parseTopic, POSITION_MAX, type ConnectorMode } from './topic.ts'

/**
 * Cloud-to-device commands (f2-protocol.md, `cmnd/`): the request bodies, their validation
 * against the registry's wiring, the MQTT messages that carry them and the controller replies
 * that confirm them. Pure: no I/O, no clock.
 */

export const COMMAND_KINDS = ['strike', 'siren', 'reader-feedback', 'status'] as const
export type CommandKind = (typeof COMMAND_KINDS)[number]

/** accepted → sent → confirmed | failed | expired; the last three are final. */
export const COMMAND_STATES = ['accepted', 'sent', 'confirmed', 'failed', 'expired'] as const
export type CommandState = (typeof COMMAND_STATES)[number]

/**
 * Time to live in seconds. The default is short because a door strike opened or a siren
 * switched minutes after the operator asked is worse than not at all; a caller wanting a
 * longer wait for an offline controller says so with `ttl_s`.
 */
export const TTL_LIMITS = Object.freeze({ default: 30, min: 1, max: 3600 })
/** A strike toggle's period (the vendor allows 255 s, recommends at most 120). */
export const STRIKE_PERIOD_MAX = 255

export const STRIKE_ACTIONS = ['power', 'unpower', 'toggle'] as const
export const SIREN_STATES = ['on', 'off'] as const
export const READER_SIGNALS = ['success', 'fail1', 'fail2'] as const
export const STATUS_COMPONENTS = ['strike', 'siren'] as const

interface Target { connector: number, position: number }
export type CommandSpec =
  | Target & { kind: 'strike', action: (typeof STRIKE_ACTIONS)[number], period?: number }
  | Target & { kind: 'siren', state: (typeof SIREN_STATES)[number] }
  | Target & { kind: 'reader-feedback', signal: (typeof READER_SIGNALS)[number] }
  | Target & { kind: 'status', component: (typeof STATUS_COMPONENTS)[number] }

export interface CommandRequest { spec: CommandSpec, ttlS: number }

/** One controller's wiring as far as commands care: each connector's mode and pin positions. */
export interface CommandWiring { connectors: ReadonlyArray<{ number: number, mode: string | null, positions: readonly number[] }> }

export interface Publication { topic: string, payload: string }

const FIELDS: Record<CommandKind, readonly string[]> = {
  strike: ['kind', 'connector', 'position', 'action', 'period', 'ttl_s'],
  siren: ['kind', 'connector', 'position', 'state', 'ttl_s'],
  'reader-feedback': ['kind', 'connector', 'position', 'signal', 'ttl_s'],
  status: ['kind', 'connector', 'position', 'component', 'ttl_s']
}

function refuse (field: string, message: string): F2Error {
  return new F2Error(ErrorCodes.COMMAND_INVALID, `${field}: ${message}`, { details: { field } })
}

function integer (body: Record<string, unknown>, field: string, min: number, max: number): number {
  const v = body[field]
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw refuse(field, `expected an integer from ${min} to ${max}`)
  return v
}

function oneOf<T extends string> (body: Record<string, unknown>, field: string, values: readonly T[]): T {
  const v = body[field]
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) throw refuse(field, `expected one of ${values.join(', ')}`)
  return v as T
}

/** The component a command addresses (a status request names it; the others imply it). */
export function componentOf (spec: CommandSpec): 'strike' | 'siren' | 'reader' {
  if (spec.kind === 'status') return spec.component
  return spec.kind === 'reader-feedback' ? 'reader' : spec.kind
}

/** The connector mode a command's component lives in. */
export function modeOf (spec: CommandSpec): ConnectorMode {
  return componentOf(spec) === 'siren' ? 'alarm-mode' : 'access-control-mode'
}

/**
 * Parses a request body: exactly one of the kinds, no unknown field, every value in range.
 * Throws F2_COMMAND_INVALID with `details.field` naming the first offending field.
 */
export function parseCommandRequest (body: unknown, defaultTtlS: number = TTL_LIMITS.default): CommandRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw refuse('body', 'expected a JSON object')
  const b = body as Record<string, unknown>
  const kind = oneOf(b, 'kind', COMMAND_KINDS)
  for (const key of Object.keys(b)) {
    if (!FIELDS[kind].includes(key)) throw refuse(key, `unknown field for kind ${kind} (accepted: ${FIELDS[kind].join(', ')})`)
  }
  const connector = integer(b, 'connector', CONNECTOR_MIN, CONNECTOR_MAX)
  const component = kind === 'status' ? oneOf(b, 'component', STATUS_COMPONENTS) : kind === 'reader-feedback' ? 'reader' : kind
  const position = integer(b, 'position', 1, POSITION_MAX[component] as number)
  const ttlS = b.ttl_s === undefined ? defaultTtlS : integer(b, 'ttl_s', TTL_LIMITS.min, TTL_LIMITS.max)
  let spec: CommandSpec
  switch (kind) {
    case 'strike': {
      const action = oneOf(b, 'action', STRIKE_ACTIONS)
      if (action === 'toggle') spec = { kind, connector, position, action, period: integer(b, 'period', 1, STRIKE_PERIOD_MAX) }
      else if (b.period !== undefined) throw refuse('period', 'only a toggle takes a period')
      else spec = { kind, connector, position, action }
      break
    }
    case 'siren': spec = { kind, connector, position, state: oneOf(b, 'state', SIREN_STATES) }; break
    case 'reader-feedback': spec = { kind, connector, position, signal: oneOf(b, 'signal', READER_SIGNALS) }; break
    case 'status': spec = { kind, connector, position, component: component as 'strike' | 'siren' }; break
  }
  return { spec, ttlS }
}

/**
 * Refuses a command whose controller, connector (in the command's mode) or position the
 * registry does not have. Throws F2_COMMAND_TARGET_UNKNOWN with `details.reason`.
 */
export function checkTarget (spec: CommandSpec, wiring: CommandWiring | null): void {
  const deny = (reason: string, message: string): F2Error =>
    new F2Error(ErrorCodes.COMMAND_TARGET_UNKNOWN, message, { details: { reason, connector: spec.connector, position: spec.position } })
  if (wiring === null) throw deny('controller', 'the registry has no such controller')
  const c = wiring.connectors.find(x => x.number === spec.connector)
  if (c === undefined) throw deny('connector', `the registry has no connector J${spec.connector} on this controller`)
  const mode = modeOf(spec)
  if (c.mode !== mode) throw deny('mode', `connector J${spec.connector} is ${c.mode ?? 'of no recorded mode'} in the registry, a ${componentOf(spec)} needs ${mode}`)
  if (!c.positions.includes(spec.position)) throw deny('position', `the registry has no position ${spec.position} on connector J${spec.connector}`)
}

function base (mac: string, spec: CommandSpec): string {
  return `f2-${mac}/${modeOf(spec)}/J${spec.connector}/${componentOf(spec)}-${spec.position}`
}

/**
 * The MQTT messages that carry a command, in order. A siren switch is followed by a status
 * request: the controller reports a siren's state only when asked (f2-protocol.md).
 */
export function publications (mac: string, spec: CommandSpec): Publication[] {
  const topic = `cmnd/${base(mac, spec)}`
  switch (spec.kind) {
    case 'strike': {
      const flag = { power: 1, unpower: 0, toggle: 2 }[spec.action]
      return [{ topic, payload: JSON.stringify(spec.action === 'toggle' ? { 'power-flag': flag, period: spec.period } : { 'power-flag': flag }) }]
    }
    case 'siren': return [{ topic, payload: spec.state === 'on' ? '1' : '0' }, { topic, payload: '' }]
    case 'reader-feedback': return [{ topic: `${topic}/success`, payload: String(READER_SIGNALS.indexOf(spec.signal) + 1) }]
    case 'status': return [{ topic, payload: '' }]
  }
}

/** The topic a confirming reply arrives on: `stat/` for strikes and sirens, `tele/` for a reader. */
export function replyTopic (mac: string, spec: CommandSpec): string {
  return `${spec.kind === 'reader-feedback' ? 'tele' : 'stat'}/${base(mac, spec)}`
}

function jsonObject (payload: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(payload)
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : null
  } catch {
    return null
  }
}

/**
 * Whether a controller message confirms the command. A strike or siren confirms with its
 * `stat/` status, which must show the requested state (power/on → true, unpower/off → false;
 * a toggle's new state and a status report can be either). Reader feedback confirms with a
 * binary reader frame on `tele/…/reader-N` (a scan is not a reply); the frame's layout is
 * not specified beyond STX … ETX, so any such frame counts.
 */
export function confirms (mac: string, spec: CommandSpec, topic: string, payload: string): boolean {
  const t = parseTopic(topic)
  if (!t.ok) return false
  const expected = parseTopic(replyTopic(mac, spec))
  if (!expected.ok) return false
  const [a, e] = [t.value, expected.value]
  if (a.kind !== e.kind || a.mac !== e.mac || a.mode !== e.mode || a.connector !== e.connector || a.component !== e.component || a.position !== e.position || a.sub !== null) return false
  const body = jsonObject(payload)
  if (body === null) return false
  if (spec.kind === 'reader-feedback') {
    if (typeof body.data !== 'string') return false
    const bytes = parsePythonBytesLiteral(body.data)
    return bytes.ok && isReaderReplyFrame(bytes.value)
  }
  if (typeof body.status !== 'boolean') return false
  if (spec.kind === 'strike' && spec.action !== 'toggle') return body.status === (spec.action === 'power')
  if (spec.kind === 'siren') return body.status === (spec.state === 'on')
  return true
}
