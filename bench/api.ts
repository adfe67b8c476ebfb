/**
 * Read API latency with a large fleet: GET /api/devices?state=offline against a device_state
 * of N controllers (default 10 000, a share of them offline), answered by the real service
 * (`node src/cli.ts api`, its own process) over private databases on the stack's servers.
 *
 *   npm run bench:api -- [--devices 10000] [--offline 0.2] [--requests 300] [--max-seconds 45]
 *
 * Requests are sent one after another (latency, not throughput), after 30 unmeasured ones.
 * Prints a table and one JSON line; the databases are dropped afterwards.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { postgresEnv } from '../src/adapters/connections/postgres.ts'
import { TokenStore } from '../src/stages/api/token-store.ts'
import { freePort } from '../src/stack/ports.ts'
import { migrate } from '../src/storage/migrate.ts'
import { ensureStack } from './lib/ensure-stack.ts'
import { machineInfo, machineLine } from './lib/machine.ts'
import { createDatabase, dropDatabase, ROOT, uniqueName, stackUrls } from './lib/stack.ts'

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '10000' },
    offline: { type: 'string', default: '0.2' },
    requests: { type: 'string', default: '300' },
    'max-seconds': { type: 'string', default: '45' }
  }
})
const devices = Number(values.devices)
const offlineShare = Number(values.offline)
const requests = Number(values.requests)
const maxMs = Number(values['max-seconds']) * 1000

ensureStack()
const machine = await machineInfo()
const urls = stackUrls()
const names = { registry: uniqueName('bench_api_reg'), timeseries: uniqueName('bench_api_ts') }
const registryUrl = await createDatabase(urls.registryUrl, names.registry)
const timeseriesUrl = await createDatabase(urls.timeseriesUrl, names.timeseries)
let child: ReturnType<typeof spawn> | undefined

try {
  const reg = postgres(registryUrl, { max: 1, onnotice: () => {} })
  const ts = postgres(timeseriesUrl, { max: 1, onnotice: () => {} })
  await migrate(reg, 'registry')
  await migrate(ts, 'timeseries')
  // Every controller with four last values, as a fleet of environment sensors would have.
  await ts.unsafe(`
    INSERT INTO device_state (device_id, mode, online, last_seen, since, offline_reason, expected_interval_s, last_values, rows_last_hour, dead_letters_last_hour, updated_at)
    SELECT lpad(to_hex(i), 12, '0'), 'sensor-mode', NOT (i % $2::int = 0), now() - (i % 600) * interval '1 s', now() - interval '1 h',
           CASE WHEN i % $2::int = 0 THEN 'silent' END, 30,
           jsonb_build_array(
             jsonb_build_object('connector', 1, 'connector_mode', 'sensor-mode', 'datapoint_label', 'Temperature', 'pin_position', '1', 'value', 20 + i % 10, 'value_text', null, 'unit', '°C', 'timestamp', now()),
             jsonb_build_object('connector', 1, 'connector_mode', 'sensor-mode', 'datapoint_label', 'Humidity', 'pin_position', '1', 'value', 40 + i % 20, 'value_text', null, 'unit', '%', 'timestamp', now()),
             jsonb_build_object('connector', 1, 'connector_mode', 'sensor-mode', 'datapoint_label', 'CO2', 'pin_position', '1', 'value', 400 + i % 300, 'value_text', null, 'unit', 'ppm', 'timestamp', now()),
             jsonb_build_object('connector', 2, 'connector_mode', 'sensor-mode', 'datapoint_label', 'Voltage', 'pin_position', '2', 'value', 230, 'value_text', null, 'unit', 'V', 'timestamp', now())),
           120, i % 3, now()
    FROM generate_series(1, $1::int) AS i`, [devices, Math.max(1, Math.round(1 / offlineShare))])
  await ts`ANALYZE device_state`
  const [counts] = await ts<Array<{ total: number, offline: number }>>`SELECT count(*)::int AS total, count(*) FILTER (WHERE NOT online)::int AS offline FROM device_state`
  const { token } = await new TokenStore(reg).create('bench', ['read'])
  await reg.end()
  await ts.end()

  const port = await freePort()
  child = spawn(process.execPath, [join(ROOT, 'src', 'cli.ts'), 'api'], {
    cwd: ROOT,
    env: { ...process.env, ...postgresEnv('registry', registryUrl), ...postgresEnv('timeseries', timeseriesUrl), HTTP_PORT: String(port), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  while ((await fetch(`${base}/readyz`).catch(() => undefined))?.status !== 200) {
    if (Date.now() > deadline) throw new Error('the API did not become ready within 30 s')
    await new Promise(resolve => setTimeout(resolve, 200))
  }

  const headers = { authorization: `Bearer ${token}` }
  const measure = async (path: string): Promise<{ path: string, n: number, p50: number, p95: number, p99: number, max: number, rows: number }> => {
    let rows = 0
    for (let i = 0; i < 30; i++) await (await fetch(`${base}${path}`, { headers })).arrayBuffer()
    const times: number[] = []
    const stopAt = Date.now() + maxMs / 2
    while (times.length < requests && Date.now() < stopAt) {
      const t0 = performance.now()
      const res = await fetch(`${base}${path}`, { headers })
      const body = await res.json() as { devices: unknown[] }
      times.push(performance.now() - t0)
      if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`)
      rows = body.devices.length
    }
    times.sort((a, b) => a - b)
    const q = (p: number): number => Math.round((times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? 0) * 100) / 100
    return { path, n: times.length, p50: q(0.5), p95: q(0.95), p99: q(0.99), max: q(1), rows }
  }
  const results = [await measure('/api/devices?state=offline'), await measure('/api/devices?state=offline&limit=1000')]

  process.stdout.write(`\nGET /api/devices?state=offline, ${counts?.total} controllers in device_state, ${counts?.offline} offline; client and API on this machine\n`)
  process.stdout.write(`${machineLine(machine)}\n\n| request | requests | rows per answer | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|\n`)
  for (const r of results) process.stdout.write(`| \`${r.path}\` | ${r.n} | ${r.rows} | ${r.p50} | ${r.p95} | ${r.p99} | ${r.max} |\n`)
  process.stdout.write(`${JSON.stringify({ bench: 'api', devices: counts?.total, offline: counts?.offline, results, machine })}\n`)
} finally {
  child?.kill('SIGTERM')
  await new Promise(resolve => setTimeout(resolve, 500))
  await dropDatabase(urls.registryUrl, names.registry)
  await dropDatabase(urls.timeseriesUrl, names.timeseries)
}
