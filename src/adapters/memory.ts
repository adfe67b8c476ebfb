import { setFlagsFromString } from 'node:v8'

/** How far old space may grow past its live size before the next full GC, in percent. */
export const HEAP_GROWING_PERCENT = 50

/**
 * Bounds the stage's old space to 1.5× its live size before the next full GC (V8's default
 * goes up to 4×): a stage's live set is small, and promoted batch garbage would otherwise hold
 * the heap at 150 MB+ (docs/architecture/processor.md, "Memory"). V8 does not take this flag
 * from NODE_OPTIONS, so each stage sets it at start, unless its command line already does
 * (`node --heap-growing-percent=N src/cli.ts <stage>`), which then wins.
 */
export function boundHeapGrowth (execArgv: readonly string[] = process.execArgv): void {
  if (execArgv.some(a => a.startsWith('--heap-growing-percent') || a.startsWith('--heap_growing_percent'))) return
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}
