import type { RawEnvelope } from './envelope.ts'
import { ErrorCodes } from './errors.ts'
import { fail, ok, type Result } from './result.ts'

/** What a presence message (`tele/f2-<mac>/LWT`) says about its controller. */
export type Presence = 'online' | 'offline'

/**
 * The state a presence payload announces: `online` or `offline`, in any case (Tasmota sends
 * `Online` / `Offline`), bare text or a JSON string. Anything else is F2_PAYLOAD_INVALID.
 */
export function presenceOf (env: Pick<RawEnvelope, 'payload' | 'payload_encoding'>): Result<Presence> {
  const p = env.payload
  if ((env.payload_encoding === 'text' || env.payload_encoding === 'json') && typeof p === 'string') {
    const s = p.trim().toLowerCase()
    if (s === 'online' || s === 'offline') return ok(s)
  }
  const shown = typeof p === 'string' ? p.slice(0, 40) : typeof p
  return fail(ErrorCodes.PAYLOAD_INVALID, `presence payload must be 'online' or 'offline', got ${JSON.stringify(shown)}`, { reason: 'presence-payload' })
}
