/**
 * A cheap recogniser of the canonical instant form (`2024-05-01T12:00:00.000000Z`: ISO UTC,
 * exactly 6 fraction digits) that parseTimestamp produces. For such a string, parseTimestamp
 * returns the very same string, so validators on the hot path can accept it without parsing;
 * anything else goes through parseTimestamp. Pure, no allocation.
 */

const ZERO = 48
const NINE = 57

function digits (s: string, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (c < ZERO || c > NINE) return -1
    n = n * 10 + (c - ZERO)
  }
  return n
}

function daysInMonth (year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31
}

/**
 * True when `s` is `YYYY-MM-DDTHH:MM:SS.ffffffZ` naming a real instant in parseTimestamp's
 * accepted range (1970-01-01 .. 9999-12-31 UTC); then `parseTimestamp(s).iso === s`.
 */
export function isCanonicalInstant (s: string): boolean {
  if (s.length !== 27) return false
  if (s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84 || s.charCodeAt(13) !== 58 ||
    s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 46 || s.charCodeAt(26) !== 90) return false
  const year = digits(s, 0, 4)
  const month = digits(s, 5, 7)
  const day = digits(s, 8, 10)
  const hour = digits(s, 11, 13)
  const minute = digits(s, 14, 16)
  const second = digits(s, 17, 19)
  if (digits(s, 20, 26) < 0) return false
  return year >= 1970 && month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth(year, month) &&
    hour >= 0 && hour <= 23 && minute >= 0 && minute <= 59 && second >= 0 && second <= 59
}
