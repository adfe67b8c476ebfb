import { ErrorCodes } from './errors.ts'
import { fail, ok, type Result } from './result.ts'
import { toHex } from './hex.ts'

const SIMPLE_ESCAPES: Record<string, number> = {
  '\\': 0x5c, "'": 0x27, '"': 0x22, a: 0x07, b: 0x08, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b
}

function invalid (reason: string, input: string): Result<never> {
  return fail(ErrorCodes.PAYLOAD_INVALID, `invalid Python bytes literal (${reason})`, { reason, input: input.slice(0, 200) })
}

const encoder = new TextEncoder()

/**
 * Parses a Python bytes literal as `repr(bytes)` prints it: `b'…'` or `b"…"` (prefix `b`/`B`),
 * with every Python bytes escape: `\\ \' \" \a \b \f \n \r \t \v`, `\xNN` (exactly two hex
 * digits), octal `\o`, `\oo`, `\ooo` (≤ 0o377) and backslash-newline (line continuation).
 * Unknown escapes keep the backslash, as Python does. Deviation from Python, on purpose:
 * non-ASCII characters are accepted and stored as their UTF-8 bytes, so a device that
 * renders text unescaped does not lose the scan. Failures are F2_PAYLOAD_INVALID.
 */
export function parsePythonBytesLiteral (s: string): Result<Uint8Array> {
  if (typeof s !== 'string') return invalid('not-a-string', String(s))
  const t = s.trim()
  if (t.length < 3 || (t[0] !== 'b' && t[0] !== 'B')) return invalid('missing-b-prefix', t)
  const quote = t[1]
  if ((quote !== "'" && quote !== '"') || t[t.length - 1] !== quote) return invalid('unquoted', t)
  const body = t.slice(2, -1)
  const out: number[] = []
  for (let i = 0; i < body.length; i++) {
    const c = body[i] as string
    if (c === quote) return invalid('unescaped-quote', t)
    if (c === '\n' || c === '\r') return invalid('unescaped-newline', t)
    if (c !== '\\') {
      const code = c.charCodeAt(0)
      if (code < 0x80) out.push(code)
      else {
        const cp = body.codePointAt(i) as number
        if (cp > 0xffff) i++
        out.push(...encoder.encode(String.fromCodePoint(cp)))
      }
      continue
    }
    const e = body[i + 1]
    if (e === undefined) return invalid('trailing-backslash', t)
    i++
    const simple = SIMPLE_ESCAPES[e]
    if (simple !== undefined) { out.push(simple); continue }
    if (e === '\n') continue
    if (e === 'x') {
      const hh = body.slice(i + 1, i + 3)
      if (!/^[0-9A-Fa-f]{2}$/.test(hh)) return invalid('bad-hex-escape', t)
      out.push(Number.parseInt(hh, 16))
      i += 2
      continue
    }
    if (e >= '0' && e <= '7') {
      const oct = /^[0-7]{1,3}/.exec(body.slice(i, i + 3))?.[0] as string
      const v = Number.parseInt(oct, 8)
      if (v > 0o377) return invalid('octal-escape-out-of-range', t)
      out.push(v)
      i += oct.length - 1
      continue
    }
    // Python keeps unknown escapes verbatim (with a warning).
    out.push(0x5c)
    i--
  }
  return ok(Uint8Array.from(out))
}

/** Renders bytes exactly as Python's `repr(bytes)` does (quote choice and escapes included). */
export function formatPythonBytesLiteral (bytes: Uint8Array): string {
  const hasSingle = bytes.includes(0x27)
  const quote = hasSingle && !bytes.includes(0x22) ? '"' : "'"
  let body = ''
  for (const b of bytes) {
    if (b === 0x5c) body += '\\\\'
    else if (b === 0x09) body += '\\t'
    else if (b === 0x0a) body += '\\n'
    else if (b === 0x0d) body += '\\r'
    else if (b === 0x27 && quote === "'") body += "\\'"
    else if (b < 0x20 || b >= 0x7f) body += `\\x${b.toString(16).padStart(2, '0')}`
    else body += String.fromCharCode(b)
  }
  return `b${quote}${body}${quote}`
}

export type ReaderBytes = { kind: 'scan'; text: string } | { kind: 'frame'; hex: string }

const STX = 0x02
const ETX = 0x03

function printableText (bytes: Uint8Array): string | null {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch {
    return null
  }
  // Tab, LF and CR may be part of a scanned string; other C0/C1 controls and DEL mean binary.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || (c >= 0x7f && c <= 0x9f)) return null
  }
  return text
}

/**
 * Tells a scanned string from a reader frame. Printable UTF-8 (tab/CR/LF allowed) is a
 * scan. Anything else is a frame, reported as spaced hex: the LED-command reply
 * (`02 … 03`, binary) and, so that nothing is lost, any other non-text bytes.
 * The empty payload is an empty scan.
 */
export function classifyReaderBytes (bytes: Uint8Array): ReaderBytes {
  const text = printableText(bytes)
  if (text !== null) return { kind: 'scan', text }
  return { kind: 'frame', hex: toHex(bytes) }
}

/** True for the reader's binary STX … ETX reply frame (informative helper). */
export function isReaderReplyFrame (bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === STX && bytes[bytes.length - 1] === ETX && printableText(bytes) === null
}
