import { createHash } from 'node:crypto'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { loadConfig, type Env } from '../adapters/config.ts'
import { stackKafkaBootstrap } from '../adapters/connections/kafka.ts'
import { DATABASES, postgresUrl } from '../adapters/connections/postgres.ts'
import { portOffsetField, STACK_HOST, stackPorts } from '../adapters/connections/stack-ports.ts'
import { DB_ROLES, type RegistryRole, type TimeseriesRole } from '../storage/roles.ts'
import { stackSecret } from './secrets.ts'

/** Where the stack keeps its runtime files; everything lives under `<root>/.stack` (git-ignored). */
export interface StackPaths {
  root: string
  stackDir: string
  logsDir: string
  runDir: string
  dataDir: string
  cacheDir: string
  /** State of the detached stack: written by its daemon, read by `stack status|down` and tests. */
  stateFile: string
  /** Fallback for data that system users (postgres, mosquitto) must reach when the project path is closed to them. */
  systemDataDir: string
}

export function projectRoot (): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
}

export function stackPaths (root = projectRoot()): StackPaths {
  const stackDir = join(root, '.stack')
  const id = createHash('sha1').update(root).digest('hex').slice(0, 12)
  return {
    root,
    stackDir,
    logsDir: join(stackDir, 'logs'),
    runDir: join(stackDir, 'run'),
    dataDir: join(stackDir, 'data'),
    cacheDir: join(root, '.cache'),
    stateFile: join(stackDir, 'run', 'stack.json'),
    systemDataDir: join('/var/lib/f2-stack', id)
  }
}

export interface DatabaseRole {
  user: string
  password: string
}

/** One database server; `user`/`password` are its owner's (migrations, registry CLI). */
export interface DatabaseConfig<R extends string = string> {
  port: number
  database: string
  user: string
  password: string
  /** Every login role of the database, the owner included (src/storage/roles.ts). */
  roles: Readonly<Record<R, DatabaseRole>>
}

export interface StackConfig {
  portOffset: number
  /** Plain MQTT on 127.0.0.1, for the services (credentials required). */
  mqttPort: number
  /** MQTT over TLS with client certificates (controllers). */
  mqttsPort: number
  /** MQTT over TLS with username and password (controllers without a certificate). */
  mqttsPasswordPort: number
  /** Address of the two controller listeners (127.0.0.1 unless exposed, docs/operations/security.md). */
  mqttDeviceBind: string
  kafkaPort: number
  kafkaControllerPort: number
  kafkaPartitions: number
  kafkaHeapMb: number
  topics: readonly string[]
  /** Topics created with cleanup.policy=compact (the latest record per key is kept). */
  compactedTopics: readonly string[]
  registry: DatabaseConfig<RegistryRole>
  timeseries: DatabaseConfig<TimeseriesRole>
  prometheusPort: number
  nodeExporterPort: number
  registryExporterPort: number
  timeseriesExporterPort: number
  jmxExporterPort: number
}

const schema = z.object({
  KAFKA_PARTITIONS: z.coerce.number().int().min(1).max(64).default(3),
  KAFKA_HEAP_MB: z.coerce.number().int().min(256).max(8192).default(512),
  // Shifts every port of the stack, so a second copy (CI on a shared machine, a clean-clone
  // check) can run beside the usual one. 0 keeps the documented ports.
  ...portOffsetField,
  F2_MQTT_DEVICE_BIND: z.union([z.ipv4(), z.ipv6()]).default('127.0.0.1')
})

/**
 * A database of the stack: its roles' passwords are the stack's generated secrets
 * (`.stack/secrets/<target>-<role>`, src/stack/secrets.ts), never a fixed value.
 */
function database<T extends 'registry' | 'timeseries'> (paths: StackPaths, target: T, port: number, name: string): DatabaseConfig<keyof typeof DB_ROLES[T] & string> {
  const roles: Record<string, DatabaseRole> = {}
  for (const [role, user] of Object.entries(DB_ROLES[target])) {
    roles[role] = Object.freeze({ user, password: stackSecret(paths, `${target}-${role}`) })
  }
  const owner = roles.owner as DatabaseRole
  return Object.freeze({ port, database: name, user: owner.user, password: owner.password, roles: Object.freeze(roles) }) as DatabaseConfig<keyof typeof DB_ROLES[T] & string>
}

/**
 * The native stack's fixed layout (ports, databases and role names are part of the project's
 * contract, see docs/operations/native-stack.md; passwords are generated per checkout); only
 * sizing knobs come from the environment.
 */
export function stackConfig (env: Env = process.env, paths: StackPaths = stackPaths()): StackConfig {
  const { KAFKA_PARTITIONS, KAFKA_HEAP_MB, F2_STACK_PORT_OFFSET: off, F2_MQTT_DEVICE_BIND } = loadConfig('stack', schema, env)
  const ports = stackPorts(off)
  return Object.freeze({
    portOffset: off,
    mqttPort: ports.mqtt,
    mqttsPort: ports.mqtts,
    mqttsPasswordPort: ports.mqttsPassword,
    mqttDeviceBind: F2_MQTT_DEVICE_BIND,
    kafkaPort: ports.kafka,
    kafkaControllerPort: ports.kafkaController,
    kafkaPartitions: KAFKA_PARTITIONS,
    kafkaHeapMb: KAFKA_HEAP_MB,
    topics: Object.freeze(['raw_iot_data', 'decoded_iot_data', 'device_activity', 'iot_dead_letter', 'device_commands']),
    compactedTopics: Object.freeze(['device_state']),
    registry: database(paths, 'registry', ports.registry, DATABASES.registry.database),
    timeseries: database(paths, 'timeseries', ports.timeseries, DATABASES.timeseries.database),
    prometheusPort: ports.prometheus,
    nodeExporterPort: ports.nodeExporter,
    registryExporterPort: ports.registryExporter,
    timeseriesExporterPort: ports.timeseriesExporter,
    jmxExporterPort: ports.jmxExporter
  })
}

/** A connection URL as `role` (default: the owner). */
export function databaseUrl (db: DatabaseConfig, role?: DatabaseRole): string {
  const { user, password } = role ?? db
  return postgresUrl({ host: STACK_HOST, port: db.port, database: db.database, user, password })
}

/**
 * Where everything is, in the seed's variable names, without any credentials: every service
 * of the project gets this from the supervisor, plus its own database roles (`roleEnv`).
 */
export function serviceEnv (cfg: StackConfig): Record<string, string> {
  return {
    MQTT_BROKER: STACK_HOST,
    MQTT_PORT: String(cfg.mqttPort),
    KAFKA_BOOTSTRAP_SERVERS: stackKafkaBootstrap(cfg.portOffset),
    POSTGRES_HOST: STACK_HOST,
    POSTGRES_PORT: String(cfg.registry.port),
    POSTGRES_DB: cfg.registry.database,
    TIMESCALE_HOST: STACK_HOST,
    TIMESCALE_PORT: String(cfg.timeseries.port),
    TIMESCALE_DB: cfg.timeseries.database,
    PROMETHEUS_URL: `http://${STACK_HOST}:${cfg.prometheusPort}`,
    F2_STACK_PORT_OFFSET: String(cfg.portOffset)
  }
}

/** Which role a service logs in as on each database it uses (none: it gets no credentials). */
export interface DatabaseRoles {
  registry?: RegistryRole
  timeseries?: TimeseriesRole
}

/** POSTGRES_USER/PASSWORD and TIMESCALE_USER/PASSWORD for `roles`, and nothing for a database not named. */
export function roleEnv (cfg: StackConfig, roles: DatabaseRoles): Record<string, string> {
  const env: Record<string, string> = {}
  if (roles.registry !== undefined) {
    const r = cfg.registry.roles[roles.registry]
    env.POSTGRES_USER = r.user
    env.POSTGRES_PASSWORD = r.password
  }
  if (roles.timeseries !== undefined) {
    const r = cfg.timeseries.roles[roles.timeseries]
    env.TIMESCALE_USER = r.user
    env.TIMESCALE_PASSWORD = r.password
  }
  return env
}
