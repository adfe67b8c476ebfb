/**
 * Delays between retries, one module for every retry loop in the codebase. Two kinds:
 *
 * - `exponentialDelay`: the same delay for the same attempt, every time. For a single
 *   retrier whose timing people read in logs and tests (the stack's process supervisor,
 *   re-issuing the registry's LISTEN, waiting for the registry at start-up).
 * - `jitteredDelay`: a random delay under the same exponential ceiling ("full jitter"). For
 *   many clients retrying against one server (stages producing to Kafka, writing to the
 *   database, MQTT reconnects): spread out, they do not all come back in the same instant.
 *
 * Attempts count from 0; the exponent is capped so a long outage never overflows.
 */

const MAX_EXPONENT = 30

/** `baseMs · factor^attempt`, capped at `maxMs`. */
export function exponentialDelay (attempt: number, baseMs: number, maxMs: number, factor = 2): number {
  return Math.min(maxMs, baseMs * factor ** Math.min(Math.max(0, attempt), MAX_EXPONENT))
}

/**
 * A random delay in [baseMs, exponentialDelay(attempt, baseMs, maxMs)], rounded to whole
 * milliseconds. `random` (default Math.random) returns a number in [0, 1).
 */
export function jitteredDelay (attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = exponentialDelay(attempt, baseMs, maxMs)
  return Math.round(baseMs + random() * Math.max(0, ceiling - baseMs))
}
