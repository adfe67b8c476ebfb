import type postgres from 'postgres'
import { ErrorCodes, F2Error, type ErrorCode } from '../core/errors.ts'
import type { Measurement } from '../core/measurement.ts'
import { copyLine, measurementProblem, withStoredNulls } from './copy-format.ts'
import { copyIn, CopyNotSettled } from './copy-in.ts'
import { CLEAR_STAGING, CONFLICT_REPORTED, CONFLICTS, COPY_DIRECT, COPY_STAGING, ENSURE_STAGING, INSERT_STAGING, MOVE } from './measurement-sql.ts'
import { describePgError, isRowDataError, isUnavailableError } from './pg-errors.ts'

export interface WriteOutcome {
  /** Rows that are new in iot_measurements. */
  inserted: number
  /** Rows already stored (same key), counted as delivered. */
  duplicates: number
  /** Rows that can never be stored, by their index in the batch; not written, the rest is. */
  rejected: Array<{ index: number, code: ErrorCode, message: string }>
  /**
   * Rows whose key is already stored with a different value (value, value_text or unit), by
   * their index in the batch, with what is stored; not written. Not counted as duplicates.
   */
  conflicts: Conflict[]
  /**
   * How the batch was written: `copy` straight into the table (no stored row met), or
   * `staging` (staging table, then INSERT … ON CONFLICT DO NOTHING and the conflict check).
   */
  path: WritePath
}

export type WritePath = 'copy' | 'staging'

/**
 * What iot_measurements holds for the key of a conflicting row: its compared columns (value,
 * value_text, unit) and received_at, instants as ISO UTC with 6 fraction digits.
 */
export interface Conflict {
  index: number
  stored: Record<string, unknown>
}

export interface TimeseriesWriterOptions {
  /** How rows reach the staging table: COPY (default) or one INSERT … FROM jsonb_to_recordset. */
  method?: 'copy' | 'insert'
  /** Rows per chunk written to the COPY stream. Default 1000. */
  copyChunkRows?: number
  /** How long one COPY may take before it counts as refused-but-unsettled (see copyIn). Default 60 s. */
  copyTimeoutMs?: number
  /** Try COPY straight into the table first (method `copy` only). Default true; false: always the staging path. */
  direct?: boolean
}

type Method = 'copy' | 'insert'

type Item = { index: number, row: Measurement }
type Conn = postgres.TransactionSql

/**
 * Writes decoded measurements to iot_measurements.
 *
 * Contract of writeBatch: all of the batch's storable rows are committed in one
 * transaction, or none. A row already stored counts as a duplicate (so redelivery is
 * harmless). A row the database refuses is reported in `rejected` and the others are
 * still written: rows are pre-validated, and when the database still refuses the batch
 * it is bisected (savepoints) down to the refused rows. Any other failure (connection,
 * server shutting down, missing table, deadlock) throws F2Error F2_DB_UNAVAILABLE with
 * retryable = true and nothing of the batch is written: retry the whole batch.
 *
 * Two paths (`path` in the outcome). `copy`: the batch is COPYed straight into
 * iot_measurements in one transaction; taken while batches meet no stored row. When the
 * table refuses it (a key already stored, or anything else the server refuses), that
 * transaction is rolled back and the batch goes the `staging` path: COPY into a staging
 * table, INSERT … ON CONFLICT DO NOTHING, conflict check, bisection of refused rows. After a
 * batch that met stored rows, the next batches go through staging until one meets none (a
 * redelivery run is not paid twice per batch).
 */
export class TimeseriesWriter {
  readonly #sql: postgres.Sql
  readonly #method: Method
  readonly #chunkRows: number
  readonly #copyTimeoutMs: number
  readonly #directAllowed: boolean
  /** Whether the next batch tries the direct COPY first. */
  #direct = true

  constructor (sql: postgres.Sql, options: TimeseriesWriterOptions = {}) {
    this.#sql = sql
    this.#method = options.method ?? 'copy'
    this.#chunkRows = Math.max(1, options.copyChunkRows ?? 1000)
    this.#copyTimeoutMs = Math.max(1, options.copyTimeoutMs ?? 60_000)
    this.#directAllowed = this.#method === 'copy' && (options.direct ?? true)
  }

  async writeBatch (rows: readonly Measurement[]): Promise<WriteOutcome> {
    const rejected: WriteOutcome['rejected'] = []
    const conflicts: Conflict[] = []
    const items: Item[] = []
    rows.forEach((row, index) => {
      const problem = measurementProblem(row)
      if (problem === null) items.push({ index, row })
      else rejected.push({ index, code: ErrorCodes.MEASUREMENT_INVALID, message: problem })
    })
    let inserted = 0
    let path: WritePath = this.#directAllowed && this.#direct ? 'copy' : 'staging'
    if (items.length > 0 && path === 'copy' && await this.#writeDirect(items)) {
      inserted = items.length
    } else if (items.length > 0) {
      path = 'staging'
      try {
        inserted = await this.#write(items, rejected, conflicts, this.#method)
      } catch (err) {
        if (!(err instanceof CopyNotSettled)) throw err
        // Nothing was committed (rows the bisection had refused are judged again); INSERT
        // reports what the server refuses, row by row if need be.
        const invalid = rejected.filter(r => r.code === ErrorCodes.MEASUREMENT_INVALID)
        rejected.splice(0, rejected.length, ...invalid)
        conflicts.length = 0
        inserted = await this.#write(items, rejected, conflicts, 'insert')
      }
    }
    rejected.sort((a, b) => a.index - b.index)
    conflicts.sort((a, b) => a.index - b.index)
    const duplicates = rows.length - inserted - rejected.length - conflicts.length
    if (items.length > 0 && path === 'staging') this.#direct = duplicates === 0 && conflicts.length === 0
    return { inserted, duplicates, rejected, conflicts, path }
  }

  /**
   * The fast path: COPY straight into the table, one transaction. True when stored; false when
   * the server refused the batch (rolled back, nothing stored). Unavailability throws.
   */
  async #writeDirect (items: Item[]): Promise<boolean> {
    const chunkRows = this.#chunkRows
    function * chunks (): Generator<string> {
      for (let i = 0; i < items.length; i += chunkRows) {
        let text = ''
        const end = Math.min(items.length, i + chunkRows)
        for (let k = i; k < end; k++) text += copyLine((items[k] as Item).row)
        yield text
      }
    }
    try {
      await this.#sql.begin(async tx => { await copyIn(tx, COPY_DIRECT, chunks(), this.#copyTimeoutMs) })
      return true
    } catch (err) {
      // A stored key (unique_violation) is the expected refusal; any other verdict of the
      // server on the data is left to the staging path, which isolates and reports it.
      if (err instanceof CopyNotSettled || !isUnavailableError(err)) return false
      throw unavailable(err)
    }
  }

  async #write (items: Item[], rejected: WriteOutcome['rejected'], conflicts: Conflict[], method: Method): Promise<number> {
    try {
      return await this.#transaction(async tx => await this.#attempt(tx, items, false, method, conflicts))
    } catch (err) {
      if (err instanceof CopyNotSettled) throw err
      if (!isRowDataError(err)) throw unavailable(err)
      // The database refused some row: redo the batch in halves, each in a savepoint.
      conflicts.length = 0
      return await this.#transaction(async tx => await this.#bisect(tx, items, rejected, conflicts, method))
    }
  }

  async #transaction (fn: (tx: Conn) => Promise<number>): Promise<number> {
    try {
      return await this.#sql.begin(async tx => {
        await tx.unsafe(ENSURE_STAGING)
        return await fn(tx)
      })
    } catch (err) {
      if (err instanceof F2Error || err instanceof CopyNotSettled || isRowDataError(err)) throw err
      throw unavailable(err)
    }
  }

  async #bisect (tx: Conn, items: Item[], rejected: WriteOutcome['rejected'], conflicts: Conflict[], method: Method): Promise<number> {
    const half = Math.ceil(items.length / 2)
    let inserted = 0
    for (const part of [items.slice(0, half), items.slice(half)]) {
      if (part.length === 0) continue
      try {
        const found: Conflict[] = []
        inserted += await tx.savepoint(async sp => await this.#attempt(sp, part, true, method, found))
        conflicts.push(...found)
      } catch (err) {
        if (!isRowDataError(err)) throw err
        if (part.length === 1) {
          rejected.push({ index: (part[0] as Item).index, code: ErrorCodes.DB_ROW_REJECTED, message: describePgError(err) })
        } else {
          inserted += await this.#bisect(tx, part, rejected, conflicts, method)
        }
      }
    }
    return inserted
  }

  /**
   * Loads `items` into staging and moves them on; returns the number of new rows. When some
   * were skipped, those stored with another value are added to `conflicts`.
   */
  async #attempt (tx: Conn, items: Item[], clearAfter: boolean, method: Method, conflicts: Conflict[]): Promise<number> {
    if (method === 'copy') await this.#copy(tx, items)
    else await tx.unsafe(INSERT_STAGING, [JSON.stringify(items.map(i => ({ ...withStoredNulls(i.row), f2_index: i.index })))])
    const result = await tx.unsafe(MOVE)
    if (result.count < items.length) {
      for (const c of await tx.unsafe(CONFLICTS)) {
        conflicts.push({ index: c.f2_index as number, stored: Object.fromEntries(CONFLICT_REPORTED.map(r => [r.name, c[r.name] ?? null])) })
      }
    }
    // Later attempts in the same transaction must start from an empty staging table.
    if (clearAfter) await tx.unsafe(CLEAR_STAGING)
    return result.count
  }

  async #copy (tx: Conn, items: Item[]): Promise<void> {
    const chunkRows = this.#chunkRows
    function * chunks (): Generator<string> {
      for (let i = 0; i < items.length; i += chunkRows) {
        let text = ''
        // The batch index rides along, so that a conflicting row can be named (see CONFLICTS).
        for (const item of items.slice(i, i + chunkRows)) text += `${copyLine(item.row).slice(0, -1)}\t${item.index}\n`
        yield text
      }
    }
    // The staging table has no constraints and rows are validated first, so a refusal should
    // not happen; if one does, the bisection finds the row (or, when the COPY never settles,
    // the caller writes the batch through INSERT, which reports the error).
    await copyIn(tx, COPY_STAGING, chunks(), this.#copyTimeoutMs)
  }
}

function unavailable (err: unknown): F2Error {
  if (err instanceof F2Error) return err
  return new F2Error(ErrorCodes.DB_UNAVAILABLE, `time-series write failed: ${describePgError(err)}`, { cause: err, retryable: true })
}
