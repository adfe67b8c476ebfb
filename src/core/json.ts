// One decoder for every call: decode() without { stream: true } keeps no state between calls.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Strict UTF-8 decoding: null for invalid UTF-8. A leading BOM is kept, so bytes round-trip. */
export function decodeUtf8 (bytes: Uint8Array): string | null {
  try {
    return UTF8.decode(bytes)
  } catch {
    return null
  }
}

/** JSON.parse that reports failure instead of throwing. */
export function tryParseJson (text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch {
    return { ok: false }
  }
}

/**
 * A JSON-safe copy of `value` for error details: bigint → string, bytes → hex, Error →
 * { name, message }, non-finite numbers → string, cycles and functions dropped.
 */
export function toJsonSafe (value: unknown, seen = new WeakSet<object>()): unknown {
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value)
  if (typeof value === 'function' || typeof value === 'symbol') return undefined
  if (typeof value !== 'object' || value === null) return value
  if (seen.has(value)) return '[circular]'
  seen.add(value)
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex')
  if (value instanceof Error) return { name: value.name, message: value.message }
  if (Array.isArray(value)) return value.map(v => toJsonSafe(v, seen) ?? null)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) {
    const safe = toJsonSafe(v, seen)
    if (safe !== undefined) out[k] = safe
  }
  return out
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** Strict standard base64 (padded), or null. */
export function decodeBase64 (s: string): Uint8Array | null {
  if (!BASE64_RE.test(s)) return null
  return new Uint8Array(Buffer.from(s, 'base64'))
}

export function encodeBase64 (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')
}
