import { describe, expect, it } from 'vitest'
import { PRIVATE_FAULTS, runFault } from '../../bench/lib/faults.ts'

/**
 * Short form of the fault suite (`npm run faults` runs the full one): each service of a
 * private pipeline is SIGKILLed and restarted, the sink is frozen for 10 s, and a scaled-out
 * pipeline (two of each service) loses one connector, one processor and one sink at once,
 * under steady load. Infrastructure restarts are left to `npm run faults`: they would break the other
 * integration tests sharing the stack. Every message acknowledged by the broker must land
 * (or be dead-lettered as expected) exactly once.
 */
const options = { rate: 300, devices: 20, beforeS: 4, afterS: 6, pauseS: 10, unknownFraction: 0.02, drainTimeoutS: 60 }

describe('fault suite (short form)', () => {
  for (const fault of PRIVATE_FAULTS) {
    it(`${fault}: nothing lost, nothing duplicated`, async () => {
      const r = await runFault(fault, options)
      expect(r.sent).toBeGreaterThan(options.rate * options.beforeS)
      expect(r.deadLettered).toBeGreaterThan(0)
      expect({ lost: r.lost, partial: r.partial, duplicatedRows: r.duplicatedRows, duplicateDeadLetters: r.duplicateDeadLetters, unexpectedDeadLetters: r.unexpectedDeadLetters })
        .toEqual({ lost: 0, partial: 0, duplicatedRows: 0, duplicateDeadLetters: 0, unexpectedDeadLetters: 0 })
      expect(r.landed + r.deadLettered).toBe(r.sent)
      if (fault.startsWith('kill-')) expect(Object.values(r.restarts).reduce((s, n) => s + n, 0)).toBe(1)
      if (fault === 'scale-out') {
        // One restart of each scaled stage, and of nothing else (the fleet stage, when it runs, is not killed).
        expect(r.restarts).toMatchObject({ connector: 1, processor: 1, sink: 1 })
        expect(Object.values(r.restarts).reduce((s, n) => s + n, 0)).toBe(3)
        // Both copies of every service carried part of the load before one of them was killed.
        for (const [instance, n] of Object.entries(r.workBeforeFault)) expect(n, instance).toBeGreaterThan(0)
        expect(Object.keys(r.workBeforeFault).sort()).toEqual(['connector', 'connector-2', 'processor', 'processor-2', 'sink', 'sink-2'])
      }
    }, 120_000)
  }
})
