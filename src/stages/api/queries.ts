import type { Bucket, DeadLetterQuery, DeviceListQuery, ReadingsQuery } from './params.ts'

/**
 * SQL of the read API, built as text plus $n parameters (pure; both postgres.js and PGlite
 * run it). Only the tables of the fleet-state contract (device_state, device_state_events,
 * dead_letters) and iot_measurements / iot_hourly_stats are read. Times leave the database
 * as ISO 8601 text with microseconds, so nothing is rounded to JavaScript's milliseconds
 * (a cursor built from a rounded time would skip or repeat rows).
 */
export interface Query { text: string, params: unknown[] }

/** timestamptz → '2024-05-01T12:00:00.000000Z' */
export const iso = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`

/** Which time-series schema answers: TimescaleDB (hypertable, continuous aggregate) or plain PostgreSQL. */
export type Variant = 'timescale' | 'plain'

export const VARIANT_SQL = "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') AS timescale"

/** Collects conditions and their parameters, numbering them in order. */
class Where {
  readonly params: unknown[] = []
  readonly parts: string[] = []
  add (condition: (p: (value: unknown) => string) => string): this {
    this.parts.push(condition(value => { this.params.push(value); return `$${this.params.length}` }))
    return this
  }

  sql (): string { return this.parts.length === 0 ? '' : `WHERE ${this.parts.join(' AND ')}` }
  param (value: unknown): string { this.params.push(value); return `$${this.params.length}` }
}

export const DEVICE_COLUMNS = `device_id AS mac, mode, online, ${iso('last_seen')} AS last_seen, ${iso('since')} AS since,
  offline_reason, expected_interval_s, rows_last_hour, dead_letters_last_hour, ${iso('updated_at')} AS updated_at`

/** One page of device_state in MAC order (keyset: the index on (online, device_id) serves `state=`). */
export function deviceListQuery (q: DeviceListQuery): Query {
  const w = new Where()
  if (q.online !== undefined) w.add(p => `online = ${p(q.online)}::boolean`)
  if (q.mode !== undefined) w.add(p => `mode = ${p(q.mode)}::text`)
  if (q.after !== undefined) w.add(p => `device_id > ${p(q.after)}::text`)
  const limit = w.param(q.limit + 1)
  return { text: `SELECT ${DEVICE_COLUMNS} FROM device_state ${w.sql()} ORDER BY device_id LIMIT ${limit}::int`, params: w.params }
}

export function deviceStateQuery (mac: string): Query {
  return { text: `SELECT ${DEVICE_COLUMNS}, last_values FROM device_state WHERE device_id = $1::text`, params: [mac] }
}

export const TRANSITIONS_SHOWN = 20

export function transitionsQuery (mac: string): Query {
  return {
    text: `SELECT ${iso('time')} AS time, online, reason FROM device_state_events WHERE device_id = $1::text ORDER BY time DESC LIMIT ${TRANSITIONS_SHOWN}`,
    params: [mac]
  }
}

export const RAW_COLUMNS = ['timestamp', 'connector', 'connector_mode', 'datapoint_label', 'pin_position', 'value', 'value_text', 'unit'] as const
export const AGGREGATE_COLUMNS = ['bucket', 'connector', 'datapoint_label', 'pin_position', 'unit', 'avg_value', 'min_value', 'max_value', 'sample_count'] as const

/** Where a bucket kind's rows come from, per variant (reported to the client as `source`). */
export function readingsSource (bucket: Bucket, variant: Variant): string {
  if (bucket === 'raw') return 'iot_measurements'
  if (bucket === '1m') return variant === 'timescale' ? 'iot_measurements/time_bucket' : 'iot_measurements/date_bin'
  return variant === 'timescale' ? 'iot_hourly_stats/continuous_aggregate' : 'iot_hourly_stats/view'
}

function readingFilters (w: Where, q: ReadingsQuery, time: string): void {
  w.add(p => `device_id = ${p(q.mac)}::text`)
  w.add(p => `${time} >= ${p(q.from.toISOString())}::timestamptz`)
  w.add(p => `${time} < ${p(q.to.toISOString())}::timestamptz`)
  if (q.label !== undefined) w.add(p => `datapoint_label = ${p(q.label)}::text`)
  if (q.pin !== undefined) w.add(p => `pin_position = ${p(q.pin)}::text`)
  if (q.connector !== undefined) w.add(p => `connector = ${p(q.connector)}::smallint`)
}

/**
 * Raw rows, or aggregates per bucket: `1m` from the raw table (time_bucket on TimescaleDB,
 * date_bin on plain PostgreSQL: the same minute boundaries), `1h` from iot_hourly_stats (the
 * continuous aggregate, or the plain view of the same name). One row more than `limit` is
 * asked for, to tell a truncated answer from a complete one.
 */
export function readingsQuery (q: ReadingsQuery, variant: Variant): Query {
  const w = new Where()
  if (q.bucket === 'raw') {
    readingFilters(w, q, '"timestamp"')
    const limit = w.param(q.limit + 1)
    return {
      text: `SELECT ${iso('"timestamp"')} AS "timestamp", connector::int AS connector, connector_mode, datapoint_label, pin_position,
  value, value_text, unit
FROM iot_measurements ${w.sql()}
ORDER BY "timestamp", connector, connector_mode, datapoint_label, pin_position LIMIT ${limit}::int`,
      params: w.params
    }
  }
  if (q.bucket === '1m') {
    readingFilters(w, q, '"timestamp"')
    w.add(() => 'value IS NOT NULL')
    const limit = w.param(q.limit + 1)
    const bucket = variant === 'timescale'
      ? 'time_bucket(INTERVAL \'1 minute\', "timestamp")'
      : 'date_bin(INTERVAL \'1 minute\', "timestamp", TIMESTAMPTZ \'2000-01-01 00:00:00+00\')'
    return {
      text: `SELECT ${iso('b')} AS bucket, connector::int AS connector, datapoint_label, pin_position, unit,
  avg(value)::float8 AS avg_value, min(value)::float8 AS min_value, max(value)::float8 AS max_value, count(*)::int AS sample_count
FROM (SELECT ${bucket} AS b, connector, datapoint_label, pin_position, unit, value FROM iot_measurements ${w.sql()}) m
GROUP BY b, connector, datapoint_label, pin_position, unit
ORDER BY b, connector, datapoint_label, pin_position, unit LIMIT ${limit}::int`,
      params: w.params
    }
  }
  readingFilters(w, q, 'bucket')
  const limit = w.param(q.limit + 1)
  return {
    text: `SELECT ${iso('bucket')} AS bucket, connector::int AS connector, datapoint_label, pin_position, unit,
  avg_value::float8 AS avg_value, min_value::float8 AS min_value, max_value::float8 AS max_value, sample_count::int AS sample_count
FROM iot_hourly_stats ${w.sql()}
ORDER BY bucket, connector, datapoint_label, pin_position, unit LIMIT ${limit}::int`,
    params: w.params
  }
}

/** Newest first; keyset on (failed_at, partition, offset), the order of dead_letters_failed_at_idx. */
export function deadLettersQuery (q: DeadLetterQuery): Query {
  const w = new Where()
  w.add(p => `failed_at >= ${p(q.from.toISOString())}::timestamptz`)
  w.add(p => `failed_at < ${p(q.to.toISOString())}::timestamptz`)
  if (q.reason !== undefined) w.add(p => `reason = ${p(q.reason)}::text`)
  if (q.mac !== undefined) w.add(p => `device_id = ${p(q.mac)}::text`)
  if (q.stage !== undefined) w.add(p => `stage = ${p(q.stage)}::text`)
  if (q.after !== undefined) {
    const a = q.after
    w.add(p => `(failed_at, partition, "offset") < (${p(a.failedAt)}::timestamptz, ${p(a.partition)}::int, ${p(a.offset)}::bigint)`)
  }
  const limit = w.param(q.limit + 1)
  return {
    text: `SELECT ${iso('failed_at')} AS failed_at, partition, "offset"::text AS "offset", reason, stage, device_id AS mac, mqtt_topic, message, record
FROM dead_letters ${w.sql()}
ORDER BY failed_at DESC, partition DESC, "offset" DESC LIMIT ${limit}::int`,
    params: w.params
  }
}
