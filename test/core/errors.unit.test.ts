import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ErrorCodes, F2Error, isF2Error } from '../../src/core/errors.ts'

const doc = readFileSync(new URL('../../docs/operations/error-codes.md', import.meta.url), 'utf8')

describe('error codes', () => {
  it.each(Object.entries(ErrorCodes))('%s (%s) is documented in docs/operations/error-codes.md', (_key, code) => {
    const row = doc.split('\n').find(line => line.startsWith(`| \`${code}\` |`))
    expect(row, `${code} has no row`).toBeDefined()
    expect((row as string).split('|').filter(cell => cell.trim() !== '').length).toBe(4)
  })

  it('the doc lists no code that does not exist', () => {
    const listed = [...doc.matchAll(/^\| `(F2_[A-Z0-9_]+)` \|/gm)].map(m => m[1])
    expect(new Set(listed)).toEqual(new Set(Object.values(ErrorCodes)))
    expect(listed.length).toBe(Object.values(ErrorCodes).length)
  })

  it('codes are unique and F2_-prefixed', () => {
    const values = Object.values(ErrorCodes)
    expect(new Set(values).size).toBe(values.length)
    for (const [key, value] of Object.entries(ErrorCodes)) expect(value).toBe(`F2_${key}`)
  })

  it('F2Error carries code, retryable, details and cause', () => {
    const cause = new Error('root')
    const e = new F2Error(ErrorCodes.KAFKA_UNAVAILABLE, 'down', { retryable: true, cause, details: { broker: 'x' } })
    expect([e.code, e.retryable, e.details, e.cause, isF2Error(e), isF2Error(cause)]).toEqual(['F2_KAFKA_UNAVAILABLE', true, { broker: 'x' }, cause, true, false])
  })
})
