import type postgres from 'postgres'
import { MAC_SQL } from '../../registry/queries.ts'
import { normalizeMac } from '../../core/topic.ts'
import type { DeadLetterRow } from './records.ts'
import type { DeviceStateRecord, TransitionEvent } from './state.ts'

/** A controller's state as the table and the topic get it: no U+0000 (jsonb refuses it; a device's value_text may carry it). */
export function encodeState (state: DeviceStateRecord): string {
  return JSON.stringify(state).replaceAll('\\u0000', '\\ufffd')
}

/**
 * The fleet stage's database side (sql/timeseries/005_fleet_state.sql): reads the stored
 * state back at start, writes one flush as one transaction. Every write is idempotent
 * (upsert by controller, events and dead letters keyed), so a flush repeated after a failure
 * or a restart leaves the same rows.
 */

/** jsonb refuses U+0000; a dead letter's message or details may carry it. */
const jsonParam = (rows: unknown[]): string => JSON.stringify(rows).replaceAll('\\u0000', '\\ufffd')

export class FleetStore {
  readonly #sql: postgres.Sql

  constructor (sql: postgres.Sql) {
    this.#sql = sql
  }

  async load (): Promise<DeviceStateRecord[]> {
    const rows = await this.#sql<DeviceStateRecord[]>`
      SELECT device_id, mode, online,
        to_char(last_seen AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS last_seen,
        to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS since,
        offline_reason, expected_interval_s, last_values, rows_last_hour, dead_letters_last_hour,
        to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS updated_at
      FROM device_state`
    return rows.map(r => ({ ...r }))
  }

  /**
   * One flush: the changed controllers (each already serialised as JSON, the same text the
   * state topic gets), their transitions, the dead letters read. One transaction.
   */
  async write (states: readonly string[], events: readonly TransitionEvent[], deadLetters: readonly DeadLetterRow[]): Promise<void> {
    await this.#sql.begin(async tx => {
      if (states.length > 0) {
        await tx.unsafe(`
          INSERT INTO device_state
          SELECT * FROM jsonb_populate_recordset(NULL::device_state, $1::text::jsonb)
          ON CONFLICT (device_id) DO UPDATE SET
            mode = EXCLUDED.mode, online = EXCLUDED.online, last_seen = EXCLUDED.last_seen, since = EXCLUDED.since,
            offline_reason = EXCLUDED.offline_reason, expected_interval_s = EXCLUDED.expected_interval_s,
            last_values = EXCLUDED.last_values, rows_last_hour = EXCLUDED.rows_last_hour,
            dead_letters_last_hour = EXCLUDED.dead_letters_last_hour, updated_at = EXCLUDED.updated_at`, [`[${states.join(',')}]`])
      }
      if (events.length > 0) {
        await tx.unsafe(`
          INSERT INTO device_state_events
          SELECT * FROM jsonb_populate_recordset(NULL::device_state_events, $1::text::jsonb)
          ON CONFLICT DO NOTHING`, [jsonParam([...events])])
      }
      if (deadLetters.length > 0) {
        await tx.unsafe(`
          INSERT INTO dead_letters (partition, "offset", failed_at, reason, stage, device_id, mqtt_topic, message, message_key, record)
          SELECT partition, "offset", failed_at, reason, stage, device_id, mqtt_topic, message, message_key, record
          FROM jsonb_populate_recordset(NULL::dead_letters, $1::text::jsonb)
          ON CONFLICT DO NOTHING`, [jsonParam([...deadLetters])])
      }
    })
  }
}

/**
 * The registry's controllers and their expected reporting intervals (null = the default),
 * from sql/registry/005_reporting_interval.sql. The lowest DeviceId wins for a MAC registered
 * twice, as in the resolver.
 */
export async function loadIntervals (registry: postgres.Sql): Promise<Map<string, number | null>> {
  const rows = await registry.unsafe<Array<{ mac: string, interval_s: number | null }>>(`
    SELECT DISTINCT ON (${MAC_SQL}) ${MAC_SQL} AS mac, c."ExpectedReportingIntervalS" AS interval_s
    FROM "Device" c
    WHERE coalesce(c."MacAddress", '') <> ''
    ORDER BY ${MAC_SQL}, c."DeviceId"`)
  const out = new Map<string, number | null>()
  for (const r of rows) {
    const mac = normalizeMac(r.mac)
    if (mac !== null) out.set(mac, r.interval_s)
  }
  return out
}
