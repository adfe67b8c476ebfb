import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type postgres from 'postgres'
import { ErrorCodes, F2Error, type ErrorCode } from '../core/errors.ts'
import type { Measurement } from '../core/measurement.ts'
import { copyLine, measurementProblem, MEASUREMENT_COLUMNS } from './copy-format.ts'
import { describePgError, isRowDataError } from './pg-errors.ts'

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
}

/** What iot_measurements holds for the key of a conflicting row. */
export interface Conflict {
  index: number
  stored: { value: number | null, value_text: string | null, unit: string | null, received_at: string | null }
}

export interface TimeseriesWriterOptions {
  /** How rows reach the staging table: COPY (default) or one INSERT … FROM jsonb_to_recordset. */
  method?: 'copy' | 'insert'
  /** Rows per chunk written to the COPY stream. Default 1000. */
  copyChunkRows?: number
  /** How long one COPY may take before it counts as refused-but-unsettled (see #copy). Default 60 s. */
  copyTimeoutMs?: number
}

type Method = 'copy' | 'insert'

/** A COPY that did not settle in time: the batch is written again through INSERT. */
class CopyNotSettled extends Error {}

const STAGING = 'f2_measurements_staging'
const COLUMN_LIST = MEASUREMENT_COLUMNS.map(c => `"${c}"`).join(', ')

// Per connection, created once; ON COMMIT DELETE ROWS empties it at every commit, so
// no catalog churn per batch. The DO block avoids the NOTICE of IF NOT EXISTS.
const ENSURE_STAGING = `DO $$ BEGIN
  IF to_regclass('pg_temp.${STAGING}') IS NULL THEN
    CREATE TEMP TABLE ${STAGING} (
      "timestamp" timestamptz, device_id text, connector_mode text, datapoint_label text, pin_position text,
      value double precision, unit text, topic text, connector smallint, value_text text,
      sensor_device_id integer, datapoint_id integer, received_at timestamptz, f2_index integer
    ) ON COMMIT DELETE ROWS;
  END IF;
END $$`

const MOVE = `INSERT INTO iot_measurements (${COLUMN_LIST})
SELECT ${COLUMN_LIST} FROM pg_temp.${STAGING}
ON CONFLICT DO NOTHING`

const INSERT_STAGING = `INSERT INTO pg_temp.${STAGING} (${COLUMN_LIST}, f2_index)
SELECT ${COLUMN_LIST}, f2_index FROM jsonb_to_recordset($1::text::jsonb) AS u (
  "timestamp" timestamptz, device_id text, connector_mode text, datapoint_label text, pin_position text,
  value double precision, unit text, topic text, connector smallint, value_text text,
  sensor_device_id integer, datapoint_id integer, received_at timestamptz, f2_index integer)`

/**
 * Run only when the move skipped rows (the rare path): the staged rows whose key is stored
 * with another value. Within the transaction the table includes the rows just moved, so a
 * batch carrying one key twice with two values reports the one that lost.
 */
const CONFLICTS = `SELECT s.f2_index, m.value, m.value_text, m.unit, to_char(m.received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS received_at
FROM pg_temp.${STAGING} s
JOIN iot_measurements m USING ("timestamp", device_id, connector, connector_mode, datapoint_label, pin_position)
WHERE s.value IS DISTINCT FROM m.value OR s.value_text IS DISTINCT FROM m.value_text OR s.unit IS DISTINCT FROM m.unit`

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
 */
export class TimeseriesWriter {
  readonly #sql: postgres.Sql
  readonly #method: Method
  readonly #chunkRows: number
  readonly #copyTimeoutMs: number

  constructor (sql: postgres.Sql, options: TimeseriesWriterOptions = {}) {
    this.#sql = sql
    this.#method = options.method ?? 'copy'
    this.#chunkRows = Math.max(1, options.copyChunkRows ?? 1000)
    this.#copyTimeoutMs = Math.max(1, options.copyTimeoutMs ?? 60_000)
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
    if (items.length > 0) {
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
    return { inserted, duplicates: rows.length - inserted - rejected.length - conflicts.length, rejected, conflicts }
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
    else await tx.unsafe(INSERT_STAGING, [JSON.stringify(items.map(i => ({ ...i.row, connector: i.row.connector ?? 0, f2_index: i.index })))])
    const result = await tx.unsafe(MOVE)
    if (result.count < items.length) {
      for (const c of await tx.unsafe(CONFLICTS)) {
        conflicts.push({ index: c.f2_index as number, stored: { value: c.value as number | null, value_text: c.value_text as string | null, unit: c.unit as string | null, received_at: c.received_at as string | null } })
      }
    }
    // Later attempts in the same transaction must start from an empty staging table.
    if (clearAfter) await tx.unsafe(`DELETE FROM pg_temp.${STAGING}`)
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
    const writable = await tx.unsafe(`COPY pg_temp.${STAGING} (${COLUMN_LIST}, f2_index) FROM STDIN`).writable()
    // postgres.js never settles a COPY the server refuses once all data is sent
    // (porsager/postgres#1173): without a deadline the transaction would wait for ever. The
    // staging table has no constraints and rows are validated first, so a refusal should not
    // happen; if one does, giving up here rolls the transaction back and the connection is
    // usable again, and the caller writes the batch through INSERT, which reports the error.
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new CopyNotSettled(`COPY of ${items.length} rows did not settle within ${this.#copyTimeoutMs} ms`)), this.#copyTimeoutMs)
    })
    try {
      await Promise.race([pipeline(Readable.from(chunks()), writable), deadline])
    } finally {
      clearTimeout(timer)
    }
  }
}

function unavailable (err: unknown): F2Error {
  if (err instanceof F2Error) return err
  return new F2Error(ErrorCodes.DB_UNAVAILABLE, `time-series write failed: ${describePgError(err)}`, { cause: err, retryable: true })
}
