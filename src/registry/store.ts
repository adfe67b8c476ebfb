import postgres from 'postgres'
import { exponentialDelay } from '../adapters/backoff.ts'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import { fail, type Result } from '../core/result.ts'
import type { SensorDefinition } from '../core/sensor.ts'
import { normalizeMacLenient } from '../core/topic.ts'
import { describePgError, sqlState } from '../storage/pg-errors.ts'
import { LoadingCache } from './cache.ts'
import { CONTROLLER_SQL, SENSOR_SQL, sensorFromRows, type SensorRow } from './queries.ts'

/** The channel the registry's triggers (sql/registry/003_change_notifications.sql) notify. */
export const REGISTRY_CHANNEL = 'registry_changed'

export type CacheKind = 'sensor' | 'controller'
export type InvalidationReason = 'notify' | 'listen' | 'manual'

export interface ControllerInfo {
  deviceId: number
  /** Normalised: lowercase hex without separators. */
  mac: string
  name: string | null
}

export interface RegistryStoreOptions {
  /** Lifetime of a found definition; a safety net only, LISTEN/NOTIFY does the real invalidation. Default 5 min. */
  ttlMs?: number
  /** Lifetime of a "not found" answer (unknown controller, unwired pin, no data points). Default 5 s. */
  negativeTtlMs?: number
  /**
   * Entries per kind before the least recently used are dropped. Default 100 000: a fleet's
   * sensors (10 000 controllers with two or three each) must fit, or nearly every lookup misses.
   */
  maxEntries?: number
  onHit?: (kind: CacheKind) => void
  onMiss?: (kind: CacheKind) => void
  onInvalidate?: (reason: InvalidationReason, detail?: string) => void
  /** First delay before re-issuing a failed LISTEN; doubles up to 30 s. Default 500 ms. */
  listenRetryMs?: number
  /** Called when LISTEN fails; the store keeps re-trying it with back-off. */
  onListenError?: (err: unknown) => void
  now?: () => number
}

/**
 * Resolves controllers and sensor definitions from the device registry, cached in memory.
 *
 * Contract:
 * - one query per cache miss; concurrent misses of one key share it;
 * - answers are cached only while LISTEN registry_changed is active; any notification
 *   clears the whole cache, and so does every (re-)established LISTEN, because
 *   notifications sent while disconnected are lost;
 * - a definition that is not there is a Result failure (F2_REGISTRY_UNKNOWN_CONTROLLER,
 *   F2_REGISTRY_UNWIRED_PIN, F2_REGISTRY_NO_DATAPOINTS), cached for negativeTtlMs;
 * - a database that cannot answer throws F2Error F2_REGISTRY_UNAVAILABLE with
 *   retryable = true (retry the message later, do not dead-letter it).
 * The postgres.js instance belongs to the caller; close() only stops listening.
 */
export class RegistryStore {
  readonly #sql: postgres.Sql
  readonly #options: RegistryStoreOptions
  readonly #sensors: LoadingCache<Result<SensorDefinition>>
  readonly #controllers: LoadingCache<ControllerInfo | null>
  #listenSql: postgres.Sql | undefined
  #listening = false
  #closed = true
  #retryTimer: NodeJS.Timeout | undefined
  /** Failed LISTENs in a row: the exponent of the next retry's delay. */
  #listenFailures = 0

  constructor (sql: postgres.Sql, options: RegistryStoreOptions = {}) {
    this.#sql = sql
    this.#options = options
    const ttl = options.ttlMs ?? 300_000
    const negativeTtl = options.negativeTtlMs ?? 5_000
    const maxEntries = options.maxEntries ?? 100_000
    const now = options.now ?? Date.now
    this.#sensors = new LoadingCache({ maxEntries, now, ttlOf: r => (r.ok ? ttl : negativeTtl) })
    this.#controllers = new LoadingCache({ maxEntries, now, ttlOf: c => (c === null ? negativeTtl : ttl) })
  }

  /** True while LISTEN is active (answers are being cached). For readiness checks. */
  get listening (): boolean {
    return this.#listening
  }

  get cacheSize (): { sensors: number, controllers: number } {
    return { sensors: this.#sensors.size, controllers: this.#controllers.size }
  }

  /**
   * Starts listening for registry changes. Resolves once LISTEN is active or has failed
   * once; after a failure it is retried in the background (answers are not cached
   * meanwhile; see `listening`). Never throws.
   */
  async start (): Promise<void> {
    if (!this.#closed) return
    this.#closed = false
    await this.#listen()
  }

  /** Stops listening and drops the cache. Does not end the caller's postgres.js instance. */
  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#retryTimer)
    this.#retryTimer = undefined
    this.#listening = false
    this.invalidate('manual')
    const listenSql = this.#listenSql
    this.#listenSql = undefined
    await listenSql?.end({ timeout: 2 }).catch(() => {})
  }

  /** Drops every cached answer. */
  invalidate (reason: InvalidationReason = 'manual', detail?: string): void {
    this.#sensors.clear()
    this.#controllers.clear()
    this.#options.onInvalidate?.(reason, detail)
  }

  /** The controller registered with `mac` (any case, with or without ':' / '-'), or null. */
  async resolveController (mac: string): Promise<ControllerInfo | null> {
    const key = normalizeMacLenient(mac)
    if (key === null) return null
    const cached = this.#controllers.peek(key)
    if (cached !== undefined) {
      this.#options.onHit?.('controller')
      return cached
    }
    this.#options.onMiss?.('controller')
    return await this.#controllers.load(key, async () => {
      const rows = await this.#query<{ device_id: number, name: string | null }>(CONTROLLER_SQL, [key])
      const row = rows[0]
      return row === undefined ? null : { deviceId: row.device_id, mac: key, name: row.name }
    }, () => this.#listening)
  }

  /** The sensor wired at `mac` / connector / pin position with its template's data points. */
  async resolveSensor (mac: string, connector: number, pin: number): Promise<Result<SensorDefinition>> {
    const norm = normalizeMacLenient(mac)
    if (norm === null) return fail(ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER, 'not a MAC address', { mac: mac.slice(0, 40), connector, pin })
    const key = `${norm}|${connector}|${pin}`
    const cached = this.#sensors.peek(key)
    if (cached !== undefined) {
      this.#options.onHit?.('sensor')
      return cached
    }
    this.#options.onMiss?.('sensor')
    return await this.#sensors.load(key, async () => {
      // Numbers outside the columns' range cannot be wired; query with -1 so the answer
      // still tells an unknown controller from an unwired pin.
      const inRange = (n: number): boolean => Number.isSafeInteger(n) && n >= 0 && n <= 32767
      const rows = await this.#query<SensorRow>(SENSOR_SQL, [norm, inRange(connector) ? connector : -1, inRange(pin) ? pin : -1])
      return sensorFromRows(norm, connector, pin, rows)
    }, () => this.#listening)
  }

  async #query<T> (text: string, params: Array<string | number>): Promise<T[]> {
    try {
      return [...await this.#sql.unsafe(text, params, { prepare: true })] as unknown as T[]
    } catch (err) {
      const state = sqlState(err)
      throw new F2Error(ErrorCodes.REGISTRY_UNAVAILABLE, `registry query failed: ${describePgError(err)}`,
        { cause: err, retryable: true, details: state === undefined ? {} : { sqlState: state } })
    }
  }

  /**
   * LISTEN runs on a connection of its own (postgres.js' `sql.listen` does not recover
   * when the server stays away longer than its first reconnect attempt). Whenever that
   * connection closes, caching stops and LISTEN is re-issued with back-off; once it is
   * active again the cache is cleared, since notifications sent meanwhile are lost.
   */
  async #listen (): Promise<void> {
    this.#retryTimer = undefined
    if (this.#closed) return
    // The same parsed options (including postgres.js' `shared` state) the pool uses,
    // as postgres.js itself does for sql.listen.
    const listenOptions = {
      ...(this.#sql.options as unknown as Record<string, unknown>),
      max: 1,
      idle_timeout: null,
      max_lifetime: null,
      fetch_types: false,
      onnotify: (channel: string, payload: string) => {
        if (channel === REGISTRY_CHANNEL && !this.#closed) this.invalidate('notify', payload)
      },
      onclose: () => {
        this.#listening = false
        this.#scheduleListen()
      }
    }
    this.#listenSql ??= postgres(listenOptions as unknown as postgres.Options<Record<string, never>>)
    try {
      await this.#listenSql.unsafe(`LISTEN ${REGISTRY_CHANNEL}`)
      if (this.#closed) return
      this.#listening = true
      this.#listenFailures = 0
      this.invalidate('listen')
    } catch (err) {
      this.#listening = false
      if (this.#closed) return
      this.#options.onListenError?.(err)
      this.#scheduleListen()
    }
  }

  #scheduleListen (): void {
    if (this.#closed || this.#retryTimer !== undefined) return
    const delay = exponentialDelay(this.#listenFailures++, this.#options.listenRetryMs ?? 500, 30_000)
    this.#retryTimer = setTimeout(() => { void this.#listen() }, delay)
    this.#retryTimer.unref()
  }
}
