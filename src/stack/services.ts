import { join } from 'node:path'
import { DEFAULT_SERVICES } from '../stages/health/config.ts'
import type { BrokerRole } from './broker-accounts.ts'
import { projectRoot, type DatabaseRoles } from './config.ts'

/**
 * The project's own services, run by the supervisor as `node src/cli.ts <args...>` after the
 * infrastructure is up. Each serves /healthz, /readyz and /metrics on `port` (on 127.0.0.1);
 * `env` is added to the stack's service environment (seed variable names, see config.ts
 * serviceEnv), and so are the credentials of the database roles named in `db`, and no others.
 * Order matters: services start in this order and stop in reverse.
 */
export interface ServiceDefinition {
  name: string
  args: string[]
  port: number
  env?: Record<string, string>
  db?: DatabaseRoles
  /** The broker account it connects with (MQTT_USERNAME/PASSWORD, or the admin's for the simulator). */
  mqtt?: BrokerRole
}

/** The demo fleet runs unless `F2_SIMULATOR=off` or `--no-simulator` (e.g. `npm start -- --no-simulator`). */
export const simulatorEnabled = (env: Record<string, string | undefined> = process.env, argv: readonly string[] = process.argv): boolean =>
  env.F2_SIMULATOR !== 'off' && !argv.includes('--no-simulator')

/**
 * A simulator that registers its generated fleet (SIM_REGISTER, off by default) writes to the
 * registry and so logs in as its owner; otherwise it only reads, as the read-only role.
 */
export const simulatorRegisters = (env: Record<string, string | undefined> = process.env): boolean =>
  ['true', '1', 'yes', 'on'].includes(env.SIM_REGISTER ?? '')

/**
 * Semi-space sizes (MB) that differ from the stages' 8. The fleet state holds every
 * controller's last values and reads batches of thousands of records: with 8 MB, records and
 * values still live at each scavenge were promoted, and garbage collection was over a quarter
 * of its CPU (10 000 controllers: 80 µs of CPU per message at 8 MB, 61 at 32, same resident set;
 * docs/operations/benchmark.md, "Fleet state cost").
 */
export const SEMI_SPACE_MB: Readonly<Record<string, number>> = Object.freeze({ fleet: 32 })

/**
 * Memory bounds for the pipeline stages (docs/architecture/processor.md, "Memory"). Node's default
 * young generation on a large host is 128 MB per process; 8 MB semi-spaces save about 100 MB
 * of a stage's resident set and keep 12 000 messages/s. glibc: two malloc arenas, and
 * large blocks (Kafka fetch and socket buffers) mapped and returned on free instead of
 * fragmenting the heap. Node's compile cache holds the modules with their types already
 * stripped, so a restarted stage never loads the TypeScript stripper (≈ 8 MB resident); the
 * cache checks each source's hash, so an edited file is simply compiled again.
 * A NODE_OPTIONS or NODE_COMPILE_CACHE of the caller's environment wins.
 */
export const stageMemoryEnv = (env: Record<string, string | undefined> = process.env, stage?: string): Record<string, string> => ({
  NODE_OPTIONS: [`--max-semi-space-size=${SEMI_SPACE_MB[stage ?? ''] ?? 8}`, env.NODE_OPTIONS].filter(Boolean).join(' '),
  NODE_COMPILE_CACHE: env.NODE_COMPILE_CACHE ?? join(projectRoot(), '.cache', 'node-compile'),
  MALLOC_ARENA_MAX: '2',
  MALLOC_MMAP_THRESHOLD_: '65536',
  MALLOC_TRIM_THRESHOLD_: '1048576'
})

export const services: ServiceDefinition[] = [
  // The health monitor probes every other entry; it reports missing ones as down.
  { name: 'health', args: ['health'], port: 8000, db: { registry: 'reader', timeseries: 'reader' }, mqtt: 'health' },
  { name: 'connector', args: ['connector'], port: 9402, env: { ...stageMemoryEnv(), HTTP_PORT: '9402', CONNECTOR_CLIENT_ID: 'f2-connector-1' }, mqtt: 'connector' },
  { name: 'processor', args: ['processor'], port: 9403, env: { ...stageMemoryEnv(), HTTP_PORT: '9403', PROCESSOR_INSTANCE_ID: 'processor-1' }, db: { registry: 'processor' } },
  { name: 'sink', args: ['sink'], port: 9404, env: { ...stageMemoryEnv(), HTTP_PORT: '9404', SINK_INSTANCE_ID: 'sink-1' }, db: { timeseries: 'sink' } },
  // The fleet state: one instance (its offline timer covers every controller); reads Kafka, so no broker account.
  { name: 'fleet', args: ['fleet'], port: 9405, env: { ...stageMemoryEnv(process.env, 'fleet'), HTTP_PORT: '9405', FLEET_INSTANCE_ID: 'fleet-1' }, db: { registry: 'reader', timeseries: 'fleet' } },
  // The read API: off the data path (it only reads the databases), so its memory is not bounded like the stages'.
  { name: 'api', args: ['api'], port: 8080, env: { HTTP_PORT: '8080' }, db: { registry: 'api', timeseries: 'reader' } },
  // Accepted commands → the controllers' cmnd/ topics; replies confirm them (docs/api/README.md, "Commands").
  { name: 'dispatcher', args: ['dispatcher'], port: 9406, env: { HTTP_PORT: '9406', DISPATCHER_CLIENT_ID: 'f2-dispatcher-1' }, db: { registry: 'dispatcher' }, mqtt: 'dispatcher' },
  ...(simulatorEnabled() ? [{ name: 'simulator', args: ['simulator'], port: 9401, env: { HTTP_PORT: '9401' }, db: { registry: simulatorRegisters() ? 'owner' as const : 'reader' as const }, mqtt: 'admin' as const }] : [])
]

/**
 * `list` as the stack with port offset `offset` runs it: every service port shifted like the
 * infrastructure's (and like Prometheus's targets, see prometheus.ts), and the health monitor
 * told where the shifted services answer. A second copy of the whole system (CI beside a
 * developer's stack) then holds no port of the first one.
 */
export function shiftedServices (offset: number, list: readonly ServiceDefinition[] = services): ServiceDefinition[] {
  if (offset === 0) return [...list]
  const shifted = list.map(def => ({ ...def, port: def.port + offset }))
  // The monitor's own default list (simulator included even when it is off: reported down).
  const targets = DEFAULT_SERVICES.replace(/127\.0\.0\.1:(\d+)/g, (_m, port: string) => `127.0.0.1:${Number(port) + offset}`)
  return shifted.map(def => def.name === 'health'
    ? { ...def, env: { ...def.env, HEALTH_PORT: String(def.port), HEALTH_SERVICES: targets } }
    : { ...def, env: { ...def.env, HTTP_PORT: String(def.port) } })
}
