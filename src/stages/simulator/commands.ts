import { formatPythonBytesLiteral } from '../../core/python-bytes.ts'
import { componentLevel, parseTopic } from '../../core/topic.ts'
import { base, type DeviceState, type OutMessage, type Stamp } from './device.ts'

export interface CommandOutcome {
  result: 'ok' | 'invalid'
  component: string
  /** Published at once. */
  replies: OutMessage[]
  /** A toggle's end: published after `afterMs` (the caller owns the timer). */
  later?: { afterMs: number, key: string, run: () => OutMessage }
  reason?: string
}

const invalid = (component: string, reason: string): CommandOutcome => ({ result: 'invalid', component, replies: [], reason })

function parseJsonObject (text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text)
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : null
  } catch {
    return null
  }
}

/**
 * Obeys one `cmnd/` message as an F2 controller does (f2-protocol.md):
 * strike `{"power-flag": 0|1|2, "period": s}` → `stat/…/strike-N` status (a toggle reports the
 * new state now and the old state when the period has passed); empty payload → report status;
 * siren `1`/`0` switches, empty reports; reader `…/success` with `1`/`2`/`3` → reader frame
 * on `tele/…/reader-N`. Anything else is refused (`invalid`), without a reply.
 */
export function handleCommand (state: DeviceState, topic: string, payload: string, stamp: Stamp): CommandOutcome {
  const parsed = parseTopic(topic)
  if (!parsed.ok) return invalid('unknown', parsed.error.code)
  const t = parsed.value
  if (t.kind !== 'cmnd' || t.mac !== state.controller.mac) return invalid(t.component, 'not-for-this-device')
  const connector = state.controller.connectors.find(c => c.number === t.connector)
  if (connector === undefined || connector.mode !== t.mode) return invalid(t.component, 'connector-not-in-this-mode')
  const level = componentLevel(t)
  const key = `${t.connector}/${level}`
  const text = payload.trim()
  const status = (kind: 'stat', value: boolean): OutMessage =>
    ({ topic: base(kind, state.controller.mac, connector, level), payload: JSON.stringify({ timestamp: stamp(), status: value }), kind, component: t.component })

  if (t.component === 'strike') {
    if (text === '') return { result: 'ok', component: 'strike', replies: [status('stat', state.strikes.get(key) ?? false)] }
    const body = parseJsonObject(text)
    const flag = body?.['power-flag']
    if (flag !== 0 && flag !== 1 && flag !== 2) return invalid('strike', 'power-flag must be 0, 1 or 2')
    if (flag !== 2) {
      clearTimeout(state.toggles.get(key))
      state.toggles.delete(key)
      state.strikes.set(key, flag === 1)
      return { result: 'ok', component: 'strike', replies: [status('stat', flag === 1)] }
    }
    const period = body?.period
    if (typeof period !== 'number' || !Number.isInteger(period) || period < 0 || period > 255) return invalid('strike', 'period must be an integer 0..255')
    const before = state.strikes.get(key) ?? false
    state.strikes.set(key, !before)
    return {
      result: 'ok',
      component: 'strike',
      replies: [status('stat', !before)],
      later: { afterMs: period * 1000, key, run: () => { state.strikes.set(key, before); return status('stat', before) } }
    }
  }
  if (t.component === 'siren') {
    if (text === '') return { result: 'ok', component: 'siren', replies: [status('stat', state.sirens.get(key) ?? false)] }
    if (text !== '0' && text !== '1') return invalid('siren', 'payload must be 1, 0 or empty')
    state.sirens.set(key, text === '1')
    return { result: 'ok', component: 'siren', replies: [] }
  }
  if (t.component === 'reader' && t.sub === 'success') {
    const code = Number(text)
    if (text === '' || ![1, 2, 3].includes(code)) return invalid('reader', 'payload must be 1, 2 or 3')
    const frame = Uint8Array.from([0x02, 0x02, code, 0x00, 0x00, 0x00, 0x03, 0x03])
    const topicOut = base('tele', state.controller.mac, connector, level)
    return { result: 'ok', component: 'reader', replies: [{ topic: topicOut, payload: JSON.stringify({ timestamp: stamp(), data: formatPythonBytesLiteral(frame) }), kind: 'tele', component: 'reader' }] }
  }
  return invalid(t.component, 'component takes no commands')
}
