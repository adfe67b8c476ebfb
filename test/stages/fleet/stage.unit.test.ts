import { describe, expect, it } from 'vitest'
import { regularFlushEveryMs } from '../../../src/stages/fleet/stage.ts'

describe('regularFlushEveryMs', () => {
  const config = { flushIntervalMs: 15_000, stateWritesPerS: 250 }

  it('keeps the flush interval while the fleet fits in it', () => {
    expect(regularFlushEveryMs(config, 0)).toBe(15_000)
    expect(regularFlushEveryMs(config, 3750)).toBe(15_000)
  })

  it('stretches it so a large fleet is written at the configured rate', () => {
    expect(regularFlushEveryMs(config, 3751)).toBe(15_004)
    expect(regularFlushEveryMs(config, 10_000)).toBe(40_000)
    expect(regularFlushEveryMs({ flushIntervalMs: 100, stateWritesPerS: 1 }, 3)).toBe(3000)
  })
})
