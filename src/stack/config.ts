import { createHash } from 'node:crypto'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { loadConfig, type Env } from '../adapters/config.ts'

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

export interface DatabaseConfig {
  port: number
  database: string
  user: string
  password: string
}

export interface StackConfig {
  portOffset: number
  mqttPort: number
  kafkaPort: number
  kafkaControllerPort: number
  kafkaPartitions: number
  kafkaHeapMb: number
  topics: readonly string[]
  /** Topics created with cleanup.policy=compact (the latest record per key is kept). */
  compactedTopics: readonly string[]
  registry: DatabaseConfig
  timeseries: DatabaseConfig
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
  F2_STACK_PORT_OFFSET: z.coerce.number().int().min(0).max(50_000).default(0)
})

/**
 * The native stack's fixed layout (ports and credentials are part of the project's contract,
 * see docs/operations/native-stack.md); only sizing knobs come from the environment.
 */
export function stackConfig (env: Env = process.env): StackConfig {
  const { KAFKA_PARTITIONS, KAFKA_HEAP_MB, F2_STACK_PORT_OFFSET: off } = loadConfig('stack', schema, env)
  return Object.freeze({
    portOffset: off,
    mqttPort: 1883 + off,
    kafkaPort: 9092 + off,
    kafkaControllerPort: 9093 + off,
    kafkaPartitions: KAFKA_PARTITIONS,
    kafkaHeapMb: KAFKA_HEAP_MB,
    topics: Object.freeze(['raw_iot_data', 'decoded_iot_data', 'iot_dead_letter']),
    compactedTopics: Object.freeze(['device_state']),
    registry: Object.freeze({ port: 5432 + off, database: 'device_params', user: 'iot_user', password: 'iot_password' }),
    timeseries: Object.freeze({ port: 5433 + off, database: 'timeseries', user: 'ts_user', password: 'ts_password' }),
    prometheusPort: 9090 + off,
    nodeExporterPort: 9100 + off,
    registryExporterPort: 9187 + off,
    timeseriesExporterPort: 9188 + off,
    jmxExporterPort: 7071 + off
  })
}

export function databaseUrl (db: DatabaseConfig): string {
  return `postgres://${db.user}:${db.password}@127.0.0.1:${db.port}/${db.database}`
}

/**
 * The environment every service of the project gets from the supervisor, using the seed's
 * variable names, so a service started by hand with the same variables behaves the same.
 */
export function serviceEnv (cfg: StackConfig): Record<string, string> {
  return {
    MQTT_BROKER: '127.0.0.1',
    MQTT_PORT: String(cfg.mqttPort),
    KAFKA_BOOTSTRAP_SERVERS: `127.0.0.1:${cfg.kafkaPort}`,
    POSTGRES_HOST: '127.0.0.1',
    POSTGRES_PORT: String(cfg.registry.port),
    POSTGRES_DB: cfg.registry.database,
    POSTGRES_USER: cfg.registry.user,
    POSTGRES_PASSWORD: cfg.registry.password,
    TIMESCALE_HOST: '127.0.0.1',
    TIMESCALE_PORT: String(cfg.timeseries.port),
    TIMESCALE_DB: cfg.timeseries.database,
    TIMESCALE_USER: cfg.timeseries.user,
    TIMESCALE_PASSWORD: cfg.timeseries.password,
    PROMETHEUS_URL: `http://127.0.0.1:${cfg.prometheusPort}`,
    F2_STACK_PORT_OFFSET: String(cfg.portOffset)
  }
}
