/**
 * Time-series write paths on 10 000 rows: the writer's COPY path, the writer's
 * INSERT … jsonb_to_recordset path, and a plain multi-row INSERT … VALUES (1000 rows per
 * statement, ON CONFLICT DO NOTHING). Runs in a throw-away database on the time-series
 * server (TIMESCALE_HOST/PORT/DB/USER/PASSWORD; the user needs CREATEDB; unset, the native
 * stack's time-series owner with its generated password).
 *
 *   npx node bench/copy-vs-insert.ts [rows=10000] [rounds=7]
 */
import { randomBytes } from 'node:crypto'
import type { Measurement } from '../src/core/measurement.ts'
import { roleEnv, serviceEnv, stackConfig } from '../src/stack/config.ts'
import { databaseFromEnv } from '../src/adapters/connections/postgres.ts'
import { connect } from '../src/storage/connection.ts'
import { MEASUREMENT_COLUMNS } from '../src/storage/copy-format.ts'
import { migrate } from '../src/storage/migrate.ts'
import { TimeseriesWriter } from '../src/storage/timeseries-writer.ts'

const rows = Number(process.argv[2] ?? 10_000)
const rounds = Number(process.argv[3] ?? 7)
const stack = stackConfig()
const base = databaseFromEnv('timeseries', stack.timeseries.user, { ...serviceEnv(stack), ...roleEnv(stack, { timeseries: 'owner' }), ...process.env })
const name = `f2_bench_${randomBytes(4).toString('hex')}`

let offset = 0
function batch (): Measurement[] {
  const start = Date.UTC(2024, 0, 1) + offset
  offset += rows * 1000
  return Array.from({ length: rows }, (_, i) => {
    const ts = new Date(start + i * 1000).toISOString().replace('Z', '000Z')
    return {
      timestamp: ts, device_id: `dev${i % 50}`, connector_mode: 'sensor-mode', datapoint_label: ['Temperature', 'Humidity', 'CO2'][i % 3] as string,
      pin_position: String((i % 6) + 1), value: Math.random() * 100, unit: '°C', topic: `tele/f2-dev${i % 50}/sensor-mode/J1/sensor-1`,
      connector: 1, value_text: null, sensor_device_id: 4, datapoint_id: 1, received_at: ts
    }
  })
}

const admin = connect(base, { max: 1 })
await admin.unsafe(`CREATE DATABASE ${name}`)
const sql = connect({ ...base, database: name }, { max: 1 })
try {
  await migrate(sql, 'timeseries')
  const copy = new TimeseriesWriter(sql, { method: 'copy' })
  const jsonb = new TimeseriesWriter(sql, { method: 'insert' })
  const methods: Record<string, (b: Measurement[]) => Promise<unknown>> = {
    'COPY (writer)': async b => await copy.writeBatch(b),
    'INSERT jsonb_to_recordset (writer)': async b => await jsonb.writeBatch(b),
    'INSERT VALUES, 1000 rows/statement': async b => {
      await sql.begin(async tx => {
        for (let i = 0; i < b.length; i += 1000) {
          const chunk = b.slice(i, i + 1000).map(m => ({ ...m, connector: m.connector ?? 0 }))
          await tx`INSERT INTO iot_measurements ${tx(chunk, ...MEASUREMENT_COLUMNS)} ON CONFLICT DO NOTHING`
        }
      })
    }
  }
  const results: Record<string, number> = {}
  for (const [label, write] of Object.entries(methods)) {
    await write(batch()) // warm-up
    const times: number[] = []
    for (let r = 0; r < rounds; r++) {
      const b = batch()
      const t = performance.now()
      await write(b)
      times.push(performance.now() - t)
    }
    times.sort((a, b) => a - b)
    results[label] = times[Math.floor(times.length / 2)] as number
  }
  const copyMs = results['COPY (writer)'] as number
  console.log(`${rows} rows per batch, median of ${rounds} rounds, PostgreSQL ${base.host}:${base.port}`)
  for (const [label, ms] of Object.entries(results)) {
    console.log(`${label.padEnd(36)} ${ms.toFixed(1).padStart(8)} ms  ${Math.round(rows / ms * 1000).toString().padStart(8)} rows/s  ${(ms / copyMs).toFixed(2)}x COPY`)
  }
} finally {
  await sql.end()
  await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await admin.end()
}
