import { spawn, fork, type ChildProcess } from 'node:child_process'
import { Consumer } from '@platformatic/kafka'
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { registerFleet } from '../src/registry/admin.ts'
import { migrate } from '../src/storage/migrate.ts'
import { generateFleet, TEMPLATES } from '../src/stages/simulator/fleet.ts'
import { UNKNOWN_MACS, unknownMac, type LoadOptions, type LoadProgress } from './load-worker.ts'
import { createDatabase, createTempTopics, deleteTopics, dropDatabase, uniqueName } from './stack.ts'
import { kafkaPartitions, ROOT, stackBroker, stackUrls, type BenchBroker } from './pipeline-stack.ts'
import { endSession } from './broker.ts'
import type { AccessSettings } from '../src/stages/simulator/access.ts'
import { freePort } from '../src/stack/ports.ts'
import { stageMemoryEnv } from '../src/stack/services.ts'
import { postgresEnv } from '../src/adapters/connections/postgres.ts'

/**
 * A private copy of the pipeline on the shared stack: its own Kafka topics, consumer groups,
 * registry and time-series databases, and the three services run as child processes of the
 * benchmark (so it can read their /proc, SIGKILL, SIGSTOP and restart them). Nothing else on
 * the stack sees its traffic, and its rows are the only rows in its table.
 */
export type ServiceName = 'connector' | 'processor' | 'sink' | 'fleet'
/** The three stages every run has; the fleet stage joins them with `fleetState` (see `serviceNames`). */
export const SERVICES: readonly ServiceName[] = ['connector', 'processor', 'sink']
/**
 * One running copy of a service: the first is named after the service, further replicas
 * `<service>-<n>` (n ≥ 2). Replicas share the connector's MQTT shared subscription and the
 * processor's and sink's consumer groups, each with its own client / instance id.
 */
export type InstanceName = ServiceName | `${ServiceName}-${number}`
export const serviceOf = (name: InstanceName): ServiceName => name.split('-')[0] as ServiceName
const replicaOf = (name: InstanceName): number => Number(name.split('-')[1] ?? 1)
export const instanceName = (service: ServiceName, replica: number): InstanceName => replica === 1 ? service : `${service}-${replica}`

export interface PipelineOptions {
  devices: number
  seed: number
  /** Extra environment per service (tuning knobs under test). */
  env?: Partial<Record<ServiceName, Record<string, string>>>
  /** Run the services from the compiled `dist/cli.js` (what the image runs) instead of `src/cli.ts`. */
  dist?: boolean
  /** Node flags per service, e.g. ['--cpu-prof', '--cpu-prof-dir=...']. */
  nodeFlags?: Partial<Record<ServiceName, string[]>>
  logDir: string
  /** Another broker than the stack's (the corpus uses a private one). */
  broker?: BenchBroker
  /** How the load generator's controllers connect: TLS (default, the real path) or plain. */
  transport?: 'tls' | 'plain'
  /** Copies of each service `startAll` runs (scale-out); 1 by default. */
  replicas?: number
  /**
   * Also run the fleet stage (the processor then writes device_activity, which the stage reads
   * with the dead letters; it writes device_state), to measure what the fleet state costs.
   */
  fleetState?: boolean
}

export interface RunningService { name: InstanceName, child: ChildProcess, port: number, startedAt: number }



/** The simulator's sensor templates under their own names, with the simulator's data points. */
export const SIM_TEMPLATE_NAMES: Record<keyof typeof TEMPLATES, string> = {
  'Environmental Sensor': 'Sim Environmental Sensor',
  'Power Monitor': 'Sim Power Monitor'
}

/** The load generator's controllers: each with its own account, given as `broker`'s admin. */
export function loadAccess (broker: BenchBroker, transport: 'tls' | 'plain'): AccessSettings {
  return {
    transport,
    mqttUrl: broker.mqttUrl,
    mqttTlsUrl: broker.mqttTlsUrl,
    mqttCaFile: broker.caFile,
    adminUsername: broker.admin.username,
    adminPassword: broker.admin.password,
    credentialsFile: undefined
  }
}

export class Pipeline {
  readonly id: string
  readonly topics: { raw: string, decoded: string, activity: string, dead: string, state: string }
  readonly urls: ReturnType<typeof stackUrls>
  readonly broker: BenchBroker
  registryUrl = ''
  timeseriesUrl = ''
  readonly #dbs: Array<{ server: string, name: string }> = []
  readonly #options: PipelineOptions
  readonly services = new Map<InstanceName, RunningService>()
  readonly restarts: Record<ServiceName, number> = { connector: 0, processor: 0, sink: 0, fleet: 0 }
  #ts: postgres.Sql | undefined

  constructor (options: PipelineOptions, prefix = 'bench') {
    this.#options = options
    this.broker = options.broker ?? stackBroker()
    this.urls = { ...stackUrls(), mqttUrl: this.broker.mqttUrl }
    this.id = uniqueName(prefix)
    this.topics = { raw: `${this.id}_raw`, decoded: `${this.id}_decoded`, activity: `${this.id}_activity`, dead: `${this.id}_dead`, state: `${this.id}_state` }
    mkdirSync(options.logDir, { recursive: true })
  }

  /** The fleet state's topics (activity, and the state, compacted in production; a run of a minute never reaches a compaction). */
  #fleetTopics (): string[] {
    return this.#options.fleetState === true ? [this.topics.activity, this.topics.state] : []
  }

  /** The services of this run, upstream first. */
  get serviceNames (): readonly ServiceName[] {
    return this.#options.fleetState === true ? [...SERVICES, 'fleet'] : SERVICES
  }

  get sql (): postgres.Sql {
    this.#ts ??= postgres(this.timeseriesUrl, { max: 2, onnotice: () => {}, connect_timeout: 10 })
    return this.#ts
  }

  /** Topics, databases (migrated), the simulator's fleet registered. */
  async setUp (): Promise<void> {
    const { devices, seed } = this.#options
    await createTempTopics([this.topics.raw, this.topics.decoded, this.topics.dead, ...this.#fleetTopics()], kafkaPartitions)
    const regName = `${this.id}_reg`
    this.registryUrl = await createDatabase(this.urls.registryUrl, regName)
    this.#dbs.push({ server: this.urls.registryUrl, name: regName })
    const tsName = `${this.id}_ts`
    this.timeseriesUrl = await createDatabase(this.urls.timeseriesUrl, tsName)
    this.#dbs.push({ server: this.urls.timeseriesUrl, name: tsName })
    const reg = postgres(this.registryUrl, { max: 1, onnotice: () => {} })
    try {
      await migrate(reg, 'registry')
      const fleet = generateFleet(devices, seed)
      if (fleet.length > 0) await registerFleet(reg, fleet.map(c => ({
        mac: c.mac,
        name: c.name,
        sensors: c.connectors.flatMap(cn => cn.sensors.map(s => ({ connector: cn.number, pin: s.pin, template: SIM_TEMPLATE_NAMES[s.templateName as keyof typeof TEMPLATES] })))
      })), {
        templates: Object.entries(TEMPLATES).map(([name, t]) => ({
          name: SIM_TEMPLATE_NAMES[name as keyof typeof TEMPLATES],
          dataPoints: t.dataPoints.map(d => ({ label: d.label, dataFormat: d.dataFormat, dataEncoding: d.dataEncoding, offset: d.offset, length: d.length, decimals: d.decimals, prepend: d.prepend, append: d.append }))
        }))
      })
    } finally {
      await reg.end()
    }
    await migrate(this.sql, 'timeseries')
    // The row's own insert time (not the transaction's start, which now() would give):
    // device → row latency then ends when the sink inserts the row, a moment before COMMIT.
    await this.sql.unsafe('ALTER TABLE iot_measurements ALTER COLUMN ingested_at SET DEFAULT clock_timestamp()')
  }

  /** A connector instance's MQTT client id: this run's alone, so its session is ended at tear-down. */
  #connectorClientId (instance: InstanceName): string {
    return `${this.id}-${instance}`
  }

  #env (instance: InstanceName, port: number): Record<string, string> {
    const name = serviceOf(instance)
    const n = replicaOf(instance)
    const common = { KAFKA_BOOTSTRAP_SERVERS: this.urls.kafka, KAFKA_DEAD_LETTER_TOPIC: this.topics.dead, HTTP_PORT: String(port), HTTP_HOST: '127.0.0.1', LOG_LEVEL: 'info' }
    const mqtt = new URL(this.urls.mqttUrl)
    const fleet = generateFleet(this.#options.devices, this.#options.seed)
    switch (name) {
      case 'connector': return {
        ...common,
        MQTT_BROKER: mqtt.hostname,
        MQTT_PORT: mqtt.port,
        MQTT_USERNAME: this.broker.connector.username,
        MQTT_PASSWORD: this.broker.connector.password,
        // This run's controllers only (and the unregistered ones the load sends on purpose).
        MQTT_TOPICS: fleet.length <= 300
          ? [...fleet.flatMap(c => [`tele/f2-${c.mac}/#`, `stat/f2-${c.mac}/#`]),
              ...Array.from({ length: UNKNOWN_MACS }, (_, i) => `tele/f2-${unknownMac(i)}/#`)].join(',')
          : 'tele/#,stat/#',
        MQTT_SHARE_GROUP: this.id,
        CONNECTOR_CLIENT_ID: this.#connectorClientId(instance),
        MQTT_SESSION_EXPIRY_S: '300',
        KAFKA_TOPIC: this.topics.raw,
        ...this.#options.env?.connector
      }
      case 'processor': return {
        ...common,
        ...postgresEnv('registry', this.registryUrl),
        KAFKA_INPUT_TOPIC: this.topics.raw,
        KAFKA_OUTPUT_TOPIC: this.topics.decoded,
        KAFKA_ACTIVITY_TOPIC: this.topics.activity,
        // The activity records are part of what the fleet state costs: written only with it.
        PROCESSOR_DEVICE_ACTIVITY: String(this.#options.fleetState === true),
        KAFKA_CONSUMER_GROUP: `${this.id}-processor`,
        PROCESSOR_INSTANCE_ID: `${this.id}-p${n}`,
        ...this.#options.env?.processor
      }
      case 'sink': return {
        ...common,
        ...postgresEnv('timeseries', this.timeseriesUrl),
        KAFKA_INPUT_TOPIC: this.topics.decoded,
        KAFKA_CONSUMER_GROUP: `${this.id}-sink`,
        SINK_INSTANCE_ID: `${this.id}-s${n}`,
        ...this.#options.env?.sink
      }
      case 'fleet': return {
        ...common,
        ...postgresEnv('registry', this.registryUrl),
        ...postgresEnv('timeseries', this.timeseriesUrl),
        KAFKA_ACTIVITY_TOPIC: this.topics.activity,
        KAFKA_STATE_TOPIC: this.topics.state,
        KAFKA_CONSUMER_GROUP: `${this.id}-fleet`,
        KAFKA_RAW_TOPIC: this.topics.raw,
        FLEET_UPSTREAM_GROUP: `${this.id}-processor`,
        FLEET_INSTANCE_ID: `${this.id}-f1`,
        ...this.#options.env?.fleet
      }
    }
  }

  async start (name: InstanceName): Promise<RunningService> {
    const port = this.services.get(name)?.port ?? await freePort()
    const log = openSync(join(this.#options.logDir, `${name}.log`), 'a')
    let child: ChildProcess
    try {
      child = spawn(process.execPath, [...(this.#options.nodeFlags?.[serviceOf(name)] ?? []), this.#options.dist === true ? join(ROOT, 'dist', 'cli.js') : join(ROOT, 'src', 'cli.ts'), serviceOf(name)], {
        cwd: ROOT,
        // The same memory settings the supervisor and the image give the stages.
        env: { ...process.env, ...stageMemoryEnv(process.env, serviceOf(name)), ...this.#env(name, port) },
        stdio: ['ignore', log, log]
      })
    } finally {
      closeSync(log)
    }
    const svc: RunningService = { name, child, port, startedAt: Date.now() }
    this.services.set(name, svc)
    await this.waitReady(name, 90_000)
    return svc
  }

  /** Every instance, in start order (downstream first, replicas after the first copy). */
  instances (): InstanceName[] {
    const replicas = this.#options.replicas ?? 1
    // The fleet stage runs as one instance (its offline timer covers every controller).
    const fleet: InstanceName[] = this.#options.fleetState === true ? ['fleet'] : []
    return [...fleet, ...(['sink', 'processor', 'connector'] as const).flatMap(s => Array.from({ length: replicas }, (_, i) => instanceName(s, i + 1)))]
  }

  async startAll (): Promise<void> {
    // Downstream first: each stage finds its consumer ready when records arrive.
    for (const name of this.instances()) await this.start(name)
  }

  async waitReady (name: InstanceName, timeoutMs: number): Promise<number> {
    const svc = this.services.get(name)
    if (svc === undefined) throw new Error(`${name} not started`)
    const t0 = Date.now()
    for (;;) {
      if (svc.child.exitCode !== null) throw new Error(`${name} exited (${svc.child.exitCode}) before it was ready; see ${join(this.#options.logDir, `${name}.log`)}`)
      try {
        // The processor reports ready only after its first written batch; alive is enough here.
        const path = serviceOf(name) === 'processor' ? 'healthz' : 'readyz'
        const r = await fetch(`http://127.0.0.1:${svc.port}/${path}`, { signal: AbortSignal.timeout(1000) })
        if (r.ok) return (Date.now() - t0) / 1000
      } catch { /* not yet */ }
      if (Date.now() - t0 > timeoutMs) throw new Error(`${name} not ready within ${timeoutMs} ms; see ${join(this.#options.logDir, `${name}.log`)}`)
      await sleep(200)
    }
  }

  pid (name: InstanceName): number | undefined {
    const c = this.services.get(name)?.child
    return c?.pid !== undefined && c.exitCode === null && c.signalCode === null ? c.pid : undefined
  }

  signal (name: InstanceName, sig: NodeJS.Signals): void {
    const pid = this.pid(name)
    if (pid !== undefined) process.kill(pid, sig)
  }

  /** SIGKILL, then a restart one second later, as the stack's supervisor would. */
  async crash (name: InstanceName, restartDelayMs = 1000): Promise<void> {
    const svc = this.services.get(name)
    if (svc === undefined) return
    const exited = new Promise(resolve => svc.child.once('exit', resolve))
    this.signal(name, 'SIGKILL')
    await exited
    await sleep(restartDelayMs)
    this.restarts[serviceOf(name)]++
    await this.start(name)
  }

  async stop (name: InstanceName, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<number | null> {
    const svc = this.services.get(name)
    if (svc === undefined || svc.child.exitCode !== null || svc.child.signalCode !== null) return svc?.child.exitCode ?? null
    const exited = new Promise<number | null>(resolve => svc.child.once('exit', code => resolve(code)))
    svc.child.kill(signal)
    const code = await Promise.race([exited, sleep(timeoutMs).then(() => 'timeout' as const)])
    if (code === 'timeout') {
      svc.child.kill('SIGKILL')
      return await exited
    }
    return code
  }

  async stopAll (): Promise<Record<string, number | null>> {
    const out: Record<string, number | null> = {}
    // Upstream first, so each stage can drain what it holds into the next.
    for (const n of [...this.instances()].reverse()) out[n] = await this.stop(n)
    return out
  }

  async metrics (name: InstanceName): Promise<Map<string, number>> {
    const svc = this.services.get(name)
    const out = new Map<string, number>()
    if (svc === undefined) return out
    try {
      const text = await (await fetch(`http://127.0.0.1:${svc.port}/metrics`, { signal: AbortSignal.timeout(2000) })).text()
      for (const line of text.split('\n')) {
        if (line.startsWith('#') || line.trim() === '') continue
        const i = line.lastIndexOf(' ')
        const key = line.slice(0, i).replace(/,?service="[^"]*"/, '').replace('{}', '')
        out.set(key, (out.get(key) ?? 0) + Number(line.slice(i + 1)))
      }
    } catch { /* not answering: empty */ }
    return out
  }

  /** Per partition: end offset − the group's committed offset (what the stage has not committed yet). */
  async lag (stage: 'processor' | 'sink'): Promise<number[]> {
    const topic = stage === 'processor' ? this.topics.raw : this.topics.decoded
    const consumer = new Consumer({ clientId: 'f2-bench-lag', bootstrapBrokers: this.urls.kafka.split(','), groupId: `${this.id}-${stage}`, autocommit: false })
    try {
      const ends = (await consumer.listOffsets({ topics: [topic], isolationLevel: 1 })).get(topic) ?? []
      const committed = (await consumer.listCommittedOffsets({ topics: [{ topic, partitions: ends.map((_, i) => i) }] })).get(topic) ?? []
      return ends.map((e, i) => { const c = committed[i] ?? -1n; return Number(e - (c < 0n ? 0n : c)) })
    } finally {
      await consumer.close(true).catch(() => {})
    }
  }

  /** Sum of every series of `metric` (all label sets). */
  static sum (m: Map<string, number>, metric: string): number {
    let total = 0
    for (const [k, v] of m) if (k === metric || k.startsWith(`${metric}{`)) total += v
    return total
  }

  /** Starts the load generator (harness/load-worker.ts) as a forked child. */
  load (options: Omit<LoadOptions, 'access' | 'devices' | 'seed'>, onProgress?: (p: LoadProgress) => void): { child: ChildProcess, done: Promise<LoadProgress> } {
    const full: LoadOptions = { ...options, access: loadAccess(this.broker, this.#options.transport ?? 'tls'), devices: this.#options.devices, seed: this.#options.seed }
    const child = fork(join(ROOT, 'harness', 'load-worker.ts'), [JSON.stringify(full)], { execPath: process.execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    const done = new Promise<LoadProgress>((resolve, reject) => {
      let last: LoadProgress | undefined
      child.on('message', (p: LoadProgress) => {
        last = p
        onProgress?.(p)
        if (p.type === 'done') resolve(p)
      })
      child.once('exit', code => { if (last?.type !== 'done') reject(new Error(`load generator exited with ${code}`)) })
    })
    return { child, done }
  }

  logTail (name: InstanceName, lines = 20): string {
    try {
      return readFileSync(join(this.#options.logDir, `${name}.log`), 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
    } catch {
      return ''
    }
  }

  async tearDown (keep = false): Promise<void> {
    for (const n of this.services.keys()) await this.stop(n, 'SIGKILL', 5000).catch(() => {})
    // The connectors' persistent sessions would outlive the run (MQTT_SESSION_EXPIRY_S) and
    // take a copy of every message of the next run on this broker, up to its queue limit.
    for (const n of this.services.keys()) {
      if (serviceOf(n) === 'connector') await endSession(this.broker.mqttUrl, this.#connectorClientId(n), this.broker.connector).catch(() => {})
    }
    await this.#ts?.end({ timeout: 2 }).catch(() => {})
    this.#ts = undefined
    if (keep) return
    for (const db of this.#dbs) await dropDatabase(db.server, db.name)
    await deleteTopics([this.topics.raw, this.topics.decoded, this.topics.dead, ...this.#fleetTopics()])
  }
}
