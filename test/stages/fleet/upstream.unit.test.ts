import { describe, expect, it } from 'vitest'
import type { LagReading } from '../../../src/adapters/kafka-lag.ts'
import { createLogger } from '../../../src/adapters/logger.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import { isBehind, isFresh, STALE_AFTER_INTERVALS, UpstreamWatch } from '../../../src/stages/fleet/upstream.ts'

const reading = (lag: number, committedPartitions: number, partitions = 3): LagReading =>
  ({ group: 'iot-processor', topic: 'raw_iot_data', lag, committedPartitions, partitions })

describe('isFresh', () => {
  it(`holds a reading for less than ${STALE_AFTER_INTERVALS} intervals`, () => {
    expect(isFresh(1000, 1000, 500)).toBe(true)
    expect(isFresh(1000, 2499, 500)).toBe(true)
    expect(isFresh(1000, 2500, 500)).toBe(false)
    expect(isFresh(1000, 60_000, 500)).toBe(false)
  })
})

describe('isBehind', () => {
  const interval = 1000
  const cases: Array<[string, LagReading | undefined, number, boolean]> = [
    ['never read', undefined, 0, false],
    ['records left, committed on every partition', reading(10, 3), 0, true],
    ['records left, committed on one partition', reading(1, 1), 0, true],
    ['nothing left', reading(0, 3), 0, false],
    ['never committed on the topic, however many records', reading(1_000_000, 0), 0, false],
    ['records left, reading just fresh', reading(10, 3), STALE_AFTER_INTERVALS * interval - 1, true],
    ['records left, reading stale', reading(10, 3), STALE_AFTER_INTERVALS * interval, false],
    ['records left, reading long gone', reading(10, 3), 3_600_000, false],
    ['topic absent', reading(0, 0, 0), 0, false]
  ]
  it.each(cases)('%s', (_name, r, age, expected) => {
    const readAt = 1_700_000_000_000
    expect(isBehind(r, readAt, readAt + age, interval)).toBe(expected)
  })
})

describe('UpstreamWatch options', () => {
  const logger = createLogger('upstream-unit', 'silent')
  const base = { brokers: ['127.0.0.1:9092'], group: 'g', topic: 't', intervalMs: 1000, logger }

  it('refuses a non-positive interval or timeout and an empty broker list, with a typed error', () => {
    for (const bad of [{ intervalMs: 0 }, { intervalMs: Number.NaN }, { timeoutMs: -1 }, { brokers: [] }]) {
      expect(() => new UpstreamWatch({ ...base, ...bad })).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG_INVALID }))
    }
  })

  it('reads as not behind, lag unknown and not readable before its first poll', () => {
    const watch = new UpstreamWatch(base)
    expect([watch.behind, watch.lag, watch.readable]).toEqual([false, undefined, false])
  })
})
