import { describe, expect, it } from 'vitest'
import { exponentialDelay, jitteredDelay } from '../../src/adapters/backoff.ts'

describe('exponentialDelay', () => {
  it('doubles from the base up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5].map(n => exponentialDelay(n, 100, 1_000))).toEqual([100, 200, 400, 800, 1_000, 1_000])
  })

  it('takes another factor', () => {
    expect([0, 1, 2, 3].map(n => exponentialDelay(n, 10, 10_000, 3))).toEqual([10, 30, 90, 270])
  })

  it('is the same for the same attempt', () => {
    expect(exponentialDelay(7, 50, 60_000)).toBe(exponentialDelay(7, 50, 60_000))
  })

  it('stays at the cap after a very long outage and never goes below the base', () => {
    expect(exponentialDelay(1_000_000, 500, 30_000)).toBe(30_000)
    expect(exponentialDelay(Number.MAX_SAFE_INTEGER, 500, 30_000, 10)).toBe(30_000)
    expect(exponentialDelay(-3, 500, 30_000)).toBe(500)
  })
})

describe('jitteredDelay', () => {
  it('spans [base, exponential ceiling] with the random source at its ends', () => {
    expect(jitteredDelay(3, 100, 10_000, () => 0)).toBe(100)
    expect(jitteredDelay(3, 100, 10_000, () => 0.999_999)).toBe(800)
    expect(jitteredDelay(3, 100, 10_000, () => 0.5)).toBe(450)
  })

  it('never exceeds the cap, however many attempts', () => {
    expect(jitteredDelay(1_000, 200, 5_000, () => 0.999_999)).toBe(5_000)
  })

  it('is the base when the cap is at or below it', () => {
    expect(jitteredDelay(5, 500, 300, () => 0.7)).toBe(500)
  })

  it('spreads retries of many clients over the window (Math.random by default)', () => {
    const delays = Array.from({ length: 2_000 }, () => jitteredDelay(4, 100, 60_000))
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(100)
    expect(Math.max(...delays)).toBeLessThanOrEqual(1_600)
    // Not all in one instant: at least a few hundred distinct values.
    expect(new Set(delays).size).toBeGreaterThan(300)
  })
})
