import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Polling for the tests and the benchmark: one loop, three shapes. `check` runs at once, then
 * every `stepMs` until it holds or `timeoutMs` passed (it runs once more at the deadline, so a
 * slow machine that gets there just in time is not failed).
 */
async function poll<T> (fn: () => T | undefined | Promise<T | undefined>, timeoutMs: number, stepMs: number): Promise<{ value: T, elapsedMs: number } | undefined> {
  const start = performance.now()
  const until = start + timeoutMs
  for (;;) {
    const value = await fn()
    if (value !== undefined) return { value, elapsedMs: performance.now() - start }
    if (performance.now() >= until) return undefined
    await sleep(Math.max(0, Math.min(stepMs, until - performance.now())))
  }
}

export interface WaitOptions {
  /** Pause between checks (default 50 ms). */
  stepMs?: number
  /** Appended to the timeout error, e.g. the tail of a child process' output. */
  detail?: () => string
}

/** Waits until `check` holds; returns the milliseconds it took, throws naming `what` after `timeoutMs`. */
export async function waitFor (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000, options: WaitOptions = {}): Promise<number> {
  const done = await poll(async () => (await check()) ? true : undefined, timeoutMs, options.stepMs ?? 50)
  if (done === undefined) {
    const detail = options.detail?.()
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail === undefined ? '' : `\n${detail}`}`)
  }
  return done.elapsedMs
}

/** Waits until `fn` returns a value (not undefined); throws naming `what` after `timeoutMs`. */
export async function waitForValue<T> (what: string, fn: () => Promise<T | undefined>, timeoutMs: number, stepMs = 25): Promise<{ value: T, elapsedMs: number }> {
  const done = await poll(fn, timeoutMs, stepMs)
  if (done === undefined) throw new Error(`${what}: not within ${timeoutMs} ms`)
  return done
}

/** Whether `check` came to hold within `timeoutMs`, for a test that asserts on it (`expect(...).toBe(true)`). */
export async function pollUntil (check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 250): Promise<boolean> {
  return (await poll(async () => (await check()) ? true : undefined, timeoutMs, stepMs)) !== undefined
}
