/**
 * One active check of one component. `check` resolves with details worth showing on
 * `/health/{component}` when the component works, and throws when it does not. It must
 * give up when `signal` aborts (the monitor's per-probe timeout) and leave nothing open
 * that the next check cannot reuse or replace.
 */
export interface Probe {
  /** Component name as shown on `/health` and in the `component` metric label. */
  readonly name: string
  readonly kind: 'mqtt' | 'kafka' | 'postgres' | 'prometheus' | 'service'
  /** A critical component down makes the whole pipeline unhealthy, any other only degraded. */
  readonly critical: boolean
  check: (signal: AbortSignal) => Promise<Record<string, unknown>>
  close?: () => Promise<void>
}

/** Rejects as soon as `signal` aborts, so a hung client call cannot hold a probe past its timeout. */
export function abortable<T> (signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error)
    signal.addEventListener('abort', onAbort, { once: true })
    work.then(
      value => { signal.removeEventListener('abort', onAbort); resolve(value) },
      (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(err as Error) }
    )
  })
}
