import { MEASUREMENT_COLUMN_SPECS, MEASUREMENT_KEY, type ColumnSpec } from '../core/measurement-columns.ts'

/**
 * The time-series writer's SQL, derived from the column declaration
 * (src/core/measurement-columns.ts). Pure: strings only.
 */

const quote = (name: string): string => `"${name.replaceAll('"', '""')}"`

/** The measurement columns, quoted, in COPY order. */
export const COLUMN_LIST = MEASUREMENT_COLUMN_SPECS.map(c => quote(c.name)).join(', ')

/** `"name" type, …` of the measurement columns plus the batch index (staging and recordset). */
const STAGING_COLUMNS = [...MEASUREMENT_COLUMN_SPECS.map((c: ColumnSpec) => `${quote(c.name)} ${c.sql}`), 'f2_index integer'].join(', ')

export const STAGING = 'f2_measurements_staging'

/**
 * Per connection, created once; ON COMMIT DELETE ROWS empties it at every commit, so no
 * catalog churn per batch. The DO block avoids the NOTICE of IF NOT EXISTS.
 */
export const ENSURE_STAGING = `DO $$ BEGIN
  IF to_regclass('pg_temp.${STAGING}') IS NULL THEN
    CREATE TEMP TABLE ${STAGING} (${STAGING_COLUMNS}) ON COMMIT DELETE ROWS;
  END IF;
END $$`

/** Rows (with their batch index) into staging, in COPY text format. */
export const COPY_STAGING = `COPY pg_temp.${STAGING} (${COLUMN_LIST}, f2_index) FROM STDIN`

/** The fast path: rows straight into the table, in COPY text format. */
export const COPY_DIRECT = `COPY iot_measurements (${COLUMN_LIST}) FROM STDIN`

export const MOVE = `INSERT INTO iot_measurements (${COLUMN_LIST})
SELECT ${COLUMN_LIST} FROM pg_temp.${STAGING}
ON CONFLICT DO NOTHING`

/** Rows (with their batch index) into staging from one JSON array ($1). */
export const INSERT_STAGING = `INSERT INTO pg_temp.${STAGING} (${COLUMN_LIST}, f2_index)
SELECT ${COLUMN_LIST}, f2_index FROM jsonb_to_recordset($1::text::jsonb) AS u (${STAGING_COLUMNS})`

export const CLEAR_STAGING = `DELETE FROM pg_temp.${STAGING}`

/** What a conflict reports as stored: the compared columns and the receipt time. */
export const CONFLICT_REPORTED: readonly ColumnSpec[] = MEASUREMENT_COLUMN_SPECS.filter((c: ColumnSpec) => c.compared === true || c.name === 'received_at')

const reported = (c: ColumnSpec): string => c.sql === 'timestamptz'
  ? `to_char(m.${quote(c.name)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ${quote(c.name)}`
  : `m.${quote(c.name)}`

/**
 * Run only when the move skipped rows (the rare path): the staged rows whose key is stored
 * with another value in a compared column. Within the transaction the table includes the rows
 * just moved, so a batch carrying one key twice with two values reports the one that lost.
 */
export const CONFLICTS = `SELECT s.f2_index, ${CONFLICT_REPORTED.map(reported).join(', ')}
FROM pg_temp.${STAGING} s
JOIN iot_measurements m USING (${MEASUREMENT_KEY.map(quote).join(', ')})
WHERE ${MEASUREMENT_COLUMN_SPECS.filter((c: ColumnSpec) => c.compared === true).map(c => `s.${quote(c.name)} IS DISTINCT FROM m.${quote(c.name)}`).join(' OR ')}`
