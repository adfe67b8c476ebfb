/**
 * A count over the last hour in twelve five-minute buckets: `add` and `sum` are O(1) and
 * O(12), and a controller costs 96 bytes instead of a timestamp per event. The window is
 * therefore 55 to 60 minutes wide, depending on where in the current bucket `now` falls.
 * Pure: the caller passes the time.
 */
export const BUCKET_MS = 5 * 60_000
const BUCKET_COUNT = 12

export class HourWindow {
  readonly #counts = new Int32Array(BUCKET_COUNT)
  /** The bucket number (epoch ms / BUCKET_MS) each slot currently holds. */
  readonly #slots = new Float64Array(BUCKET_COUNT).fill(-1)

  add (nowMs: number, n = 1): void {
    const bucket = Math.floor(nowMs / BUCKET_MS)
    const i = bucket % BUCKET_COUNT
    if (this.#slots[i] !== bucket) {
      this.#slots[i] = bucket
      this.#counts[i] = 0
    }
    this.#counts[i] = (this.#counts[i] as number) + n
  }

  sum (nowMs: number): number {
    const oldest = Math.floor(nowMs / BUCKET_MS) - BUCKET_COUNT + 1
    let total = 0
    for (let i = 0; i < BUCKET_COUNT; i++) if ((this.#slots[i] as number) >= oldest) total += this.#counts[i] as number
    return total
  }
}
