/**
 * A bounded in-memory cache with per-entry TTL, least-recently-used eviction and
 * coalescing of concurrent loads of one key.
 *
 * `clear()` starts a new generation: loads that began before it neither fill the cache
 * nor are shared with callers that arrive after it, so a definition read just before a
 * registry change can never be cached after that change was announced.
 */
export class LoadingCache<V> {
  readonly #entries = new Map<string, { value: V, expires: number }>()
  readonly #inflight = new Map<string, Promise<V>>()
  readonly #maxEntries: number
  readonly #ttlOf: (value: V) => number
  readonly #now: () => number
  #generation = 0

  constructor (options: { maxEntries: number, ttlOf: (value: V) => number, now?: () => number }) {
    this.#maxEntries = Math.max(1, options.maxEntries)
    this.#ttlOf = options.ttlOf
    this.#now = options.now ?? Date.now
  }

  get size (): number {
    return this.#entries.size
  }

  /** The cached value, or undefined when absent or expired (a hit refreshes recency). */
  peek (key: string): V | undefined {
    const entry = this.#entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expires <= this.#now()) {
      this.#entries.delete(key)
      return undefined
    }
    this.#entries.delete(key)
    this.#entries.set(key, entry)
    return entry.value
  }

  /**
   * The cached value or the result of `load` (shared with concurrent callers of the same
   * key). The loaded value is kept only when `store` is true at completion and no
   * `clear()` happened meanwhile. A rejected load is not cached.
   */
  async load (key: string, load: () => Promise<V>, store: () => boolean): Promise<V> {
    const cached = this.peek(key)
    if (cached !== undefined) return cached
    const pending = this.#inflight.get(key)
    if (pending !== undefined) return await pending
    const generation = this.#generation
    const promise = load().then(value => {
      if (generation === this.#generation && store()) this.#set(key, value)
      return value
    }).finally(() => {
      if (this.#inflight.get(key) === promise) this.#inflight.delete(key)
    })
    this.#inflight.set(key, promise)
    return await promise
  }

  clear (): void {
    this.#generation++
    this.#entries.clear()
    this.#inflight.clear()
  }

  #set (key: string, value: V): void {
    const ttl = this.#ttlOf(value)
    if (ttl <= 0) return
    this.#entries.delete(key)
    this.#entries.set(key, { value, expires: this.#now() + ttl })
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next()
      if (oldest.done === true) break
      this.#entries.delete(oldest.value)
    }
  }
}
