import { ErrorCodes } from './errors.ts'
import { fail, ok, type Result } from './result.ts'

function invalid (reason: string, input: string): Result<never> {
  return fail(ErrorCodes.HEX_INVALID, `invalid hex payload (${reason})`, { reason, input: input.slice(0, 200) })
}

function decodePlain (hex: string): Uint8Array {
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return out
}

/**
 * Parses a sensor payload's hex text. Accepted forms (surrounding whitespace ignored):
 * - space-separated groups of whole bytes: `01 03 0C 32` (each group an even number of digits);
 * - plain hex of even length: `01030c32`;
 * - `0x`-prefixed hex: `0x12a`. An odd digit count after `0x` is read as a number and
 *   left-padded with one 0 nibble (`0x12a` → 01 2A), as the seed's simulator produced it.
 * The empty string is zero bytes. Anything else is F2_HEX_INVALID. Never throws.
 */
export function parseHex (s: string): Result<Uint8Array> {
  if (typeof s !== 'string') return invalid('not-a-string', String(s))
  const t = s.trim()
  if (t.length > 65536) return invalid('too-long', t)
  if (/^0[xX]/.test(t)) {
    const digits = t.slice(2)
    if (!/^[0-9A-Fa-f]+$/.test(digits)) return invalid('bad-digits-after-0x', t)
    return ok(decodePlain(digits.length % 2 === 1 ? `0${digits}` : digits))
  }
  if (t.length === 0) return ok(new Uint8Array(0))
  const groups = t.split(/\s+/)
  for (const g of groups) {
    if (!/^[0-9A-Fa-f]+$/.test(g)) return invalid('non-hex-character', t)
    if (g.length % 2 === 1) return invalid(groups.length > 1 ? 'odd-digit-group' : 'odd-length', t)
  }
  return ok(decodePlain(groups.join('')))
}

/** Upper-case hex of `bytes`: `01 03 0C` when spaced (default), `01030C` otherwise. */
export function toHex (bytes: Uint8Array, spaced = true): string {
  const parts: string[] = []
  for (const b of bytes) parts.push(b.toString(16).padStart(2, '0').toUpperCase())
  return parts.join(spaced ? ' ' : '')
}
