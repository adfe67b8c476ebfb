import { describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../src/core/errors.ts'
import { parseHex, toHex } from '../../src/core/hex.ts'
import { prng, randBytes } from './helpers/prng.ts'

describe('parseHex', () => {
  it.each([
    ['01 03 0C 32 30 32 30 36 32 38 30 31 30 31 5B 18 28 01', [0x01, 0x03, 0x0c, 0x32, 0x30, 0x32, 0x30, 0x36, 0x32, 0x38, 0x30, 0x31, 0x30, 0x31, 0x5b, 0x18, 0x28, 0x01]],
    ['0x12a', [0x01, 0x2a]], // the seed simulator's form: odd digit count after 0x is left-padded
    ['0X12A', [0x01, 0x2a]],
    ['0x0a', [0x0a]],
    ['0xfdf3', [0xfd, 0xf3]],
    ['fdf3', [0xfd, 0xf3]],
    ['FDF3', [0xfd, 0xf3]],
    ['  fd f3  ', [0xfd, 0xf3]],
    ['fdf3 0001', [0xfd, 0xf3, 0x00, 0x01]],
    ['fd\tf3\n00', [0xfd, 0xf3, 0x00]],
    ['', []],
    ['   ', []]
  ])('%j', (input, bytes) => {
    expect(parseHex(input)).toEqual({ ok: true, value: Uint8Array.from(bytes) })
  })

  it.each([
    ['12a', 'odd-length'], ['1 03 0C', 'odd-digit-group'], ['0x', 'bad-digits-after-0x'], ['0x12 34', 'bad-digits-after-0x'],
    ['0xzz', 'bad-digits-after-0x'], ['zz', 'non-hex-character'], ['01,02', 'non-hex-character'], ['0x01 0x02', 'bad-digits-after-0x'], ['-01', 'non-hex-character']
  ])('rejects %j (%s)', (input, reason) => {
    const r = parseHex(input)
    expect(r.ok).toBe(false)
    if (!r.ok) {
      expect(r.error.code).toBe(ErrorCodes.HEX_INVALID)
      expect(r.error.details?.reason).toBe(reason)
    }
  })
})

describe('toHex', () => {
  it('formats upper-case, spaced by default', () => {
    expect(toHex(Uint8Array.from([1, 3, 0x0c, 0xff]))).toBe('01 03 0C FF')
    expect(toHex(Uint8Array.from([1, 3, 0x0c, 0xff]), false)).toBe('01030CFF')
    expect(toHex(new Uint8Array(0))).toBe('')
  })

  it('round-trips random bytes in both forms', () => {
    const rnd = prng(7)
    for (let i = 0; i < 1000; i++) {
      const b = randBytes(rnd, 64)
      expect(parseHex(toHex(b))).toEqual({ ok: true, value: b })
      expect(parseHex(toHex(b, false))).toEqual({ ok: true, value: b })
      if (b.length > 0) expect(parseHex(`0x${toHex(b, false)}`)).toEqual({ ok: true, value: b })
    }
  })
})
