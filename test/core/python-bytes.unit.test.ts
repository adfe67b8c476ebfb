import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../src/core/errors.ts'
import { classifyReaderBytes, formatPythonBytesLiteral, isReaderReplyFrame, parsePythonBytesLiteral } from '../../src/core/python-bytes.ts'
import { prng, randBytes } from './helpers/prng.ts'

const enc = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('parsePythonBytesLiteral', () => {
  it.each([
    // the two payload examples of f2-protocol.md (as they appear after JSON decoding)
    [`b'"Hello World"'`, enc('"Hello World"')],
    ["b'\\x02\\x02\\x01\\x00\\x00\\x00\\x03\\x03'", Uint8Array.from([2, 2, 1, 0, 0, 0, 3, 3])],
    [`b"it's"`, enc("it's")],
    ["b'it\\'s'", enc("it's")],
    [`b"say \\"hi\\""`, enc('say "hi"')],
    ["B'abc'", enc('abc')],
    ["b''", new Uint8Array(0)],
    ['b""', new Uint8Array(0)],
    ["b'\\\\'", enc('\\')],
    ["b'\\n\\r\\t\\a\\b\\f\\v'", Uint8Array.from([10, 13, 9, 7, 8, 12, 11])],
    ["b'\\0'", Uint8Array.from([0])],
    ["b'\\01\\012\\0123'", Uint8Array.from([1, 10, 10, 0x33])],
    ["b'\\377'", Uint8Array.from([255])],
    ["b'\\xff\\xFF\\x7f'", Uint8Array.from([255, 255, 127])],
    ["b'a\\\nb'", enc('ab')], // backslash-newline continuation
    ["b'\\q\\d'", enc('\\q\\d')], // unknown escapes keep the backslash, as Python does
    ["b'Gr\\xc3\\xbc\\xc3\\x9fe'", enc('Grüße')],
    ["b'Grüße'", enc('Grüße')], // lenient: unescaped non-ASCII stored as UTF-8
    ["b'\u{1F600}'", enc('\u{1F600}')],
    ["  b'x'  ", enc('x')]
  ])('%s', (input, bytes) => {
    expect(parsePythonBytesLiteral(input)).toEqual({ ok: true, value: bytes })
  })

  it.each([
    ["'abc'"], ['abc'], ["b'abc"], ["b'abc\""], ["b'a'b'"], ["b'\\x1'"], ["b'\\xg0'"], ["b'\\400'"], ["b'abc\\'"],
    ["b'a\nb'"], [''], ['b'], ["rb'abc'"], ["u'abc'"]
  ])('rejects %j', (input) => {
    const r = parsePythonBytesLiteral(input)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.error.code).toBe(ErrorCodes.PAYLOAD_INVALID)
  })
})

describe('formatPythonBytesLiteral (same output as Python repr(bytes))', () => {
  it.each([
    [enc('"Hello World"'), `b'"Hello World"'`],
    [Uint8Array.from([2, 2, 1, 0, 0, 0, 3, 3]), "b'\\x02\\x02\\x01\\x00\\x00\\x00\\x03\\x03'"],
    [enc("it's"), `b"it's"`],
    [enc(`it's "x"`), `b'it\\'s "x"'`],
    [enc('a\\b\tc\nd\re'), "b'a\\\\b\\tc\\nd\\re'"],
    [Uint8Array.from([0x7f, 0x80, 0xff, 0x1f]), "b'\\x7f\\x80\\xff\\x1f'"],
    [new Uint8Array(0), "b''"]
  ])('%j → %s', (bytes, literal) => {
    expect(formatPythonBytesLiteral(bytes)).toBe(literal)
  })

  it('round-trips random bytes', () => {
    const rnd = prng(11)
    for (let i = 0; i < 3000; i++) {
      const b = randBytes(rnd, 48)
      expect(parsePythonBytesLiteral(formatPythonBytesLiteral(b))).toEqual({ ok: true, value: b })
    }
  })
})

describe('classifyReaderBytes', () => {
  it('a scanned string is a scan', () => {
    expect(classifyReaderBytes(enc('"Hello World"'))).toEqual({ kind: 'scan', text: '"Hello World"' })
    expect(classifyReaderBytes(enc('Grüße\tnext\r\n'))).toEqual({ kind: 'scan', text: 'Grüße\tnext\r\n' })
    expect(classifyReaderBytes(enc('x'.repeat(1023)))).toEqual({ kind: 'scan', text: 'x'.repeat(1023) })
    expect(classifyReaderBytes(new Uint8Array(0))).toEqual({ kind: 'scan', text: '' })
  })

  it('the LED reply frame is a frame (hex), not a scan', () => {
    const frame = Uint8Array.from([2, 2, 1, 0, 0, 0, 3, 3])
    expect(classifyReaderBytes(frame)).toEqual({ kind: 'frame', hex: '02 02 01 00 00 00 03 03' })
    expect(isReaderReplyFrame(frame)).toBe(true)
    expect(isReaderReplyFrame(enc('\u0002abc'))).toBe(false)
  })

  it('other binary and invalid UTF-8 are reported as frames so nothing is lost', () => {
    expect(classifyReaderBytes(Uint8Array.from([0xff, 0xfe]))).toEqual({ kind: 'frame', hex: 'FF FE' })
    expect(classifyReaderBytes(Uint8Array.from([0x41, 0x00]))).toEqual({ kind: 'frame', hex: '41 00' })
    expect(classifyReaderBytes(enc('a\u0085b'))).toEqual({ kind: 'frame', hex: '61 C2 85 62' })
  })
})
