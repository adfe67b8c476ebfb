import { describe, expect, it } from 'vitest'
import { partitionLag } from '../../src/adapters/kafka-lag.ts'

describe('partitionLag', () => {
  it('measures from the committed offset, or from the log start when none was committed', () => {
    expect(partitionLag(7n, 0n, 10n)).toBe(3)
    expect(partitionLag(undefined, 4n, 10n)).toBe(6)
    expect(partitionLag(-1n, 4n, 10n)).toBe(6)
    expect(partitionLag(12n, 0n, 10n)).toBe(0)
  })
})
