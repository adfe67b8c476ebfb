/**
 * What a `device_state` row costs the time-series PostgreSQL each time the fleet stage rewrites it.
 *
 *   npm run bench:state-rows -- [--controllers 10000] [--values 5] [--seconds 30] [--fillfactor N]
 *
 * A temporary migrated database first gets a row for every controller, then the flush the stage
 * makes (FleetStore.write: every changed controller in one statement, in one transaction) every
 * 2 s for `seconds`, each time with new last values. The server's CPU is read from /proc before
 * and after: the postmaster and every process under it (backends, WAL writer, checkpointer,
 * autovacuum), and what its exited children used. `--fillfactor` sets the table's first (100 is
 * PostgreSQL's default, the table's before sql/timeseries/007) to compare. Prints one JSON line.
 */
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import type { LastValue } from '../src/core/activity.ts'
import { encodeState, FleetStore } from '../src/stages/fleet/store.ts'
import type { DeviceStateRecord } from '../src/stages/fleet/state.ts'
import { migrate } from '../src/storage/migrate.ts'
import { createTempDatabase } from '../harness/stack.ts'
import { ensureStack } from './lib/ensure-stack.ts'
import { processTree, readProc } from './lib/proc.ts'
import { infraPid } from './lib/stack.ts'

const { values: a } = parseArgs({
  options: {
    controllers: { type: 'string', default: '10000' },
    values: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '30' },
    fillfactor: { type: 'string' }
  }
})
const controllers = Number(a.controllers)
const perController = Number(a.values)
const seconds = Number(a.seconds)

ensureStack()
const postmaster = infraPid('postgres-timeseries')
if (postmaster === undefined) throw new Error('the stack\'s time-series PostgreSQL is not running (npm run stack -- up)')

/** CPU seconds of the server: its live processes, and the exited children the postmaster reaped. */
function serverCpu (pid: number): number {
  let seconds = 0
  for (const p of processTree(pid)) {
    const sample = readProc(p)
    if (sample !== undefined) seconds += sample.cpuSeconds + (p === pid ? sample.reapedCpuSeconds : 0)
  }
  return seconds
}

const LABELS = ['Temperature', 'Humidity', 'CO2', 'Voltage', 'Current', 'Motion', 'Door', 'Light']
let generation = 0
/** Every controller's row, as the stage serialises it; new values each generation. */
function flush (): string[] {
  const at = new Date(Date.UTC(2026, 0, 1) + generation++ * 1000).toISOString().replace('Z', '000Z')
  return Array.from({ length: controllers }, (_, i) => {
    const values: LastValue[] = Array.from({ length: perController }, (_, j) => ({
      connector: 1 + j, connector_mode: 'sensor-mode', datapoint_label: LABELS[j % LABELS.length] as string, pin_position: String(1 + (j >> 3)),
      value: 20 + ((generation * 7 + i + j) % 100) / 10, value_text: null, unit: '°C', timestamp: at
    }))
    const record: DeviceStateRecord = {
      device_id: (0xb0_0000_0000_00 + i).toString(16), mode: 'sensor-mode', online: true, last_seen: at, since: at, offline_reason: null,
      expected_interval_s: 30, last_values: values, rows_last_hour: 100 + generation, dead_letters_last_hour: 0, updated_at: at
    }
    return encodeState(record)
  })
}

const db = await createTempDatabase('timeseries')
const sql = postgres(db.url, { max: 1, onnotice: () => {} })
try {
  await migrate(sql, 'timeseries')
  if (a.fillfactor !== undefined) await sql.unsafe(`ALTER TABLE device_state SET (fillfactor = ${Math.trunc(Number(a.fillfactor))})`)
  const store = new FleetStore(sql)
  await store.write(flush(), [], [])
  const [{ fillfactor } = { fillfactor: null }] = await sql<Array<{ fillfactor: string | null }>>`
    SELECT (SELECT substring(o FROM 'fillfactor=(\\d+)') FROM unnest(reloptions) o WHERE o LIKE 'fillfactor=%') AS fillfactor
    FROM pg_class WHERE relname = 'device_state'`
  // Prepared before the clock starts: only the server's work is measured.
  const flushes = Array.from({ length: 4 }, flush)
  const cpu0 = serverCpu(postmaster)
  const t0 = Date.now()
  let rows = 0
  while (Date.now() - t0 < seconds * 1000) {
    const states = flushes[(rows / controllers) % flushes.length] as string[]
    await store.write(states, [], [])
    rows += states.length
    await new Promise(resolve => setTimeout(resolve, 2000))
  }
  const cpu = serverCpu(postmaster) - cpu0
  process.stdout.write(`${JSON.stringify({
    bench: 'state-rows', controllers, valuesPerController: perController, fillfactor: Number(fillfactor ?? 100),
    rowsWritten: rows, serverCpuSeconds: Number(cpu.toFixed(2)), serverCpuMicrosPerRow: Math.round(cpu * 1e6 / rows)
  })}\n`)
} finally {
  await sql.end({ timeout: 2 })
  await db.drop()
}
