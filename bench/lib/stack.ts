import { readFileSync } from 'node:fs'
import { connect as netConnect } from 'node:net'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Admin } from '@platformatic/kafka'
import postgres from 'postgres'
import { brokerAccount, stackPki } from '../../src/stack/broker-accounts.ts'
import { projectRoot, stackConfig, stackPaths, type DatabaseConfig } from '../../src/stack/config.ts'

/**
 * Where the benchmark finds the running stack, and the few controls it needs over it:
 * private databases and topics per run, and a restart of one infrastructure process.
 */
export const ROOT = projectRoot()
const cfg = stackConfig()

/** A broker and the accounts the benchmark uses on it (the stack's, from .stack/, unless given). */
export interface BenchBroker {
  /** Plain listener (127.0.0.1): the connector, and plain-transport controllers. */
  mqttUrl: string
  /** TLS listener for controllers with a password. */
  mqttTlsUrl: string
  caFile: string
  admin: { username: string, password: string }
  connector: { username: string, password: string }
}

export function stackBroker (): BenchBroker {
  const e = process.env
  const paths = stackPaths(ROOT)
  const host = e.MQTT_BROKER ?? '127.0.0.1'
  const admin = brokerAccount(paths, 'admin')
  return {
    mqttUrl: `mqtt://${host}:${e.MQTT_PORT ?? cfg.mqttPort}`,
    mqttTlsUrl: `mqtts://${host}:${e.MQTT_TLS_PASSWORD_PORT ?? cfg.mqttsPasswordPort}`,
    caFile: e.MQTT_CA_FILE ?? stackPki(paths).caCert,
    admin: { username: admin.username, password: e.MQTT_ADMIN_PASSWORD ?? admin.password },
    connector: brokerAccount(paths, 'connector')
  }
}

export interface StackUrls {
  mqttUrl: string
  kafka: string
  registryUrl: string
  timeseriesUrl: string
}

/**
 * A database as its owner (the benchmark creates private databases): the seed's variables when
 * set, else the native stack with its generated password (.stack/secrets).
 */
function ownerUrl (prefix: 'POSTGRES' | 'TIMESCALE', db: DatabaseConfig): string {
  const e = process.env
  const user = encodeURIComponent(e[`${prefix}_USER`] ?? db.user)
  const password = encodeURIComponent(e[`${prefix}_PASSWORD`] ?? db.password)
  return `postgres://${user}:${password}@${e[`${prefix}_HOST`] ?? '127.0.0.1'}:${e[`${prefix}_PORT`] ?? db.port}/${e[`${prefix}_DB`] ?? db.database}`
}

export function stackUrls (): StackUrls {
  const e = process.env
  return {
    mqttUrl: `mqtt://${e.MQTT_BROKER ?? '127.0.0.1'}:${e.MQTT_PORT ?? cfg.mqttPort}`,
    kafka: e.KAFKA_BOOTSTRAP_SERVERS ?? `127.0.0.1:${cfg.kafkaPort}`,
    registryUrl: ownerUrl('POSTGRES', cfg.registry),
    timeseriesUrl: ownerUrl('TIMESCALE', cfg.timeseries)
  }
}

export const kafkaPartitions = cfg.kafkaPartitions

/** `<prefix>_<time>_<random>`: safe as a topic, database or identifier name. */
export function runId (prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
}

export function withDatabase (url: string, name: string): string {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

export async function createDatabase (serverUrl: string, name: string): Promise<string> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  return withDatabase(serverUrl, name)
}

export async function dropDatabase (serverUrl: string, name: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const sql = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 })
    try {
      await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      return
    } catch {
      await sleep(1000)
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {})
    }
  }
}

export function kafkaAdmin (): Admin {
  return new Admin({ clientId: 'f2-bench-admin', bootstrapBrokers: stackUrls().kafka.split(',') })
}

export async function createTopics (names: string[], partitions = kafkaPartitions): Promise<void> {
  const admin = kafkaAdmin()
  try {
    await admin.createTopics({ topics: names, partitions, replicas: 1 })
    const until = Date.now() + 20_000
    for (;;) {
      const meta = await admin.metadata({ topics: names, forceUpdate: true })
      if (names.every(n => meta.topics.get(n)?.partitions.every(p => p.leader >= 0) === true)) return
      if (Date.now() > until) throw new Error(`topics ${names.join(', ')} have no leader after 20 s`)
      await sleep(100)
    }
  } finally {
    await admin.close()
  }
}

export async function deleteTopics (names: string[]): Promise<void> {
  const admin = kafkaAdmin()
  try {
    await admin.deleteTopics({ topics: names })
  } catch { /* already gone, or Kafka down: nothing to keep */ } finally {
    await admin.close().catch(() => {})
  }
}

export function portOpen (port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise(resolve => {
    const s = netConnect({ port, host })
    const done = (ok: boolean): void => { s.destroy(); resolve(ok) }
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
    s.setTimeout(1000, () => done(false))
  })
}

export type InfraName = 'kafka' | 'mosquitto' | 'postgres-timeseries' | 'postgres-registry'

interface StackState { pid: number, status: string, processes: Record<string, { pid: number, command: string } | undefined> }

function readStackState (): StackState | undefined {
  try {
    return JSON.parse(readFileSync(join(ROOT, '.stack', 'run', 'stack.json'), 'utf8')) as StackState
  } catch {
    return undefined
  }
}

/** Pid of an infrastructure process of the detached stack (undefined when not running). */
export function infraPid (name: string): number | undefined {
  const pid = readStackState()?.processes[name]?.pid
  if (pid === undefined) return undefined
  try { process.kill(pid, 0); return pid } catch { return undefined }
}

export function infraPort (name: InfraName): number {
  switch (name) {
    case 'kafka': return cfg.kafkaPort
    case 'mosquitto': return cfg.mqttPort
    case 'postgres-timeseries': return cfg.timeseries.port
    case 'postgres-registry': return cfg.registry.port
  }
}

const STOP_SIGNAL: Record<InfraName, NodeJS.Signals> = {
  kafka: 'SIGTERM', mosquitto: 'SIGTERM', 'postgres-timeseries': 'SIGINT', 'postgres-registry': 'SIGINT'
}

/**
 * Restarts one infrastructure process of the detached stack: its clean stop signal (Mosquitto
 * saves its persistent sessions, PostgreSQL does a fast shutdown, Kafka a controlled one), or
 * `signal` (SIGKILL: a crash, nothing saved on the way out); the stack's supervisor starts it
 * again. Resolves when the port answers again, with the seconds the port was closed. Throws if
 * it is not back within `timeoutMs` (the stack is then broken: the caller reports it loudly).
 */
export async function restartInfra (name: InfraName, timeoutMs = 180_000, signal: NodeJS.Signals = STOP_SIGNAL[name]): Promise<{ downSeconds: number }> {
  const pid = infraPid(name)
  if (pid === undefined) throw new Error(`${name} is not running under the detached stack (.stack/run/stack.json)`)
  const port = infraPort(name)
  const t0 = Date.now()
  process.kill(pid, signal)
  const until = t0 + timeoutMs
  for (;;) {
    const alive = (() => { try { process.kill(pid, 0); return true } catch { return false } })()
    if (!alive) break
    if (Date.now() > until) throw new Error(`${name} (pid ${pid}) did not stop within ${timeoutMs} ms`)
    await sleep(100)
  }
  const closedAt = Date.now()
  for (;;) {
    const next = infraPid(name)
    if (next !== undefined && next !== pid && await portOpen(port)) break
    if (Date.now() > until) throw new Error(`${name} did not come back within ${timeoutMs} ms; check npm run stack -- status`)
    await sleep(200)
  }
  return { downSeconds: (Date.now() - closedAt) / 1000 }
}
