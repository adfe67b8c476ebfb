import { setTimeout as sleep } from 'node:timers/promises'

export interface WaitOptions {
  timeoutMs: number
  intervalMs?: number
  signal?: AbortSignal
}

/**
 * Polls `check` until it returns true. Errors thrown by `check` count as "not yet";
 * the last one is attached as the cause when the wait times out.
 */
export async function waitUntil (what: string, check: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const until = Date.now() + options.timeoutMs
  let lastError: unknown
  for (;;) {
    options.signal?.throwIfAborted()
    try {
      if (await check()) return
    } catch (err) {
      lastError = err
    }
    if (Date.now() >= until) {
      throw new Error(`timed out after ${options.timeoutMs} ms waiting for ${what}`, { cause: lastError })
    }
    await sleep(options.intervalMs ?? 250, undefined, { signal: options.signal })
  }
}

/** True when an HTTP GET of `url` answers 200 within two seconds. */
export async function httpOk (url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) })
  await res.body?.cancel()
  return res.status === 200
}
