import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceEnv, stackConfig } from '../../src/stack/config.ts'
import { services as supervised } from '../../src/stack/services.ts'
import { parseExposition, type Exposition } from '../../src/stages/health/prom-text.ts'
import { migrate } from '../../src/storage/migrate.ts'
import { freePort, portFree } from '../../src/stack/ports.ts'
import { startPrivateMosquitto, type PrivateMosquitto } from '../../harness/private-mosquitto.ts'
import { createTempDatabase, createTempTopics, harnessConfig, stackEnv, uniqueName, type TempDatabase, type TempTopics } from '../../harness/stack.ts'
import { documentedMetrics } from './metrics-doc.ts'
import { ROOT } from './expressions.ts'
import { postgresEnv } from '../../src/adapters/connections/postgres.ts'

/**
 * The pipeline as `npm start` runs it (every service, fed by the simulator), started here
 * as `node src/cli.ts <service>` on a broker, topics, groups and databases of its own, so
 * that a running `npm start` and other tests neither disturb it nor see its traffic.
 *
 * Prometheus scrapes the services on their documented ports
 * (monitoring/prometheus/prometheus.native.yml), shifted like the whole stack by
 * F2_STACK_PORT_OFFSET (src/stack/prometheus.ts): "documented port" below means shifted. A service takes its documented port when
 * the port is free, so Prometheus scrapes the copy started here; when a running `npm start`
 * holds the port, this copy takes a free one and the target Prometheus sees is that running
 * service. Either way "every target up" is asserted for what Prometheus really scrapes.
 */
const DEFAULT_PORTS: Record<string, number> = { simulator: 9401, connector: 9402, processor: 9403, sink: 9404, fleet: 9405, dispatcher: 9406, api: 8080, health: 8000 }
/** The stack's port offset: its Prometheus scrapes the services' ports shifted by it. */
const OFFSET = harnessConfig().F2_STACK_PORT_OFFSET
const ORDER = ['sink', 'processor', 'fleet', 'connector', 'dispatcher', 'api', 'health', 'simulator']
const prometheus = stackEnv().prometheusUrl
const PORTS: Record<string, number> = {}
/** Services of this test listening on their documented port (the ones Prometheus scrapes). */
const onDefaultPort = new Set<string>()
const started: ChildProcess[] = []
let startedAt = 0
const logs = new Map<string, string>()

const url = (service: string, path: string): string => `http://127.0.0.1:${PORTS[service]}${path}`
const get = async (u: string): Promise<Response | undefined> => fetch(u, { signal: AbortSignal.timeout(2000) }).catch(() => undefined)
const tail = (): string => [...logs].map(([k, v]) => `--- ${k}\n${v.slice(-2000)}`).join('\n')

async function until<T> (what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    const dead = started.find(c => c.exitCode !== null)
    if (dead !== undefined) throw new Error(`a service exited (code ${dead.exitCode}) while waiting for ${what}\n${tail()}`)
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${tail()}`)
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}

async function scrape (service: string): Promise<Exposition> {
  const res = await get(url(service, '/metrics'))
  if (res?.status !== 200) throw new Error(`${service} /metrics answered ${res?.status}`)
  return parseExposition(await res.text())
}

describe('the running pipeline', () => {
  let broker: PrivateMosquitto | undefined
  let registry: TempDatabase | undefined
  let timeseries: TempDatabase | undefined
  let topics: TempTopics | undefined

  beforeAll(async () => {
    broker = await startPrivateMosquitto()
    // As `npm start` does before its services: schemas and the sample registry, here in databases of its own.
    registry = await createTempDatabase('registry')
    timeseries = await createTempDatabase('timeseries')
    for (const [db, kind] of [[registry, 'registry'], [timeseries, 'timeseries']] as const) {
      const sql = postgres(db.url, { max: 1, onnotice: () => {} })
      try { await migrate(sql, kind) } finally { await sql.end() }
    }
    topics = await createTempTopics([uniqueName('live_raw'), uniqueName('live_decoded'), uniqueName('live_dead'), uniqueName('live_state'), uniqueName('live_commands'), uniqueName('live_activity')], 3)
    const [raw, decoded, dead, state, commands, activity] = topics.names as [string, string, string, string, string, string]
    for (const name of ORDER) {
      const port = (DEFAULT_PORTS[name] as number) + OFFSET
      if (await portFree(port)) {
        PORTS[name] = port
        onDefaultPort.add(name)
      } else {
        PORTS[name] = await freePort()
      }
    }
    const groups = { processor: uniqueName('live_proc'), sink: uniqueName('live_sink'), fleet: uniqueName('live_fleet'), dispatcher: uniqueName('live_dispatch') }
    const base = {
      ...serviceEnv(stackConfig()),
      MQTT_PORT: String(broker.port),
      ...postgresEnv('registry', registry.url),
      ...postgresEnv('timeseries', timeseries.url),
      KAFKA_DEAD_LETTER_TOPIC: dead
    }
    const tls = new URL(broker.mqttsPasswordUrl)
    const own: Record<string, Record<string, string>> = {
      connector: { MQTT_USERNAME: broker.connector.username, MQTT_PASSWORD: broker.connector.password, KAFKA_TOPIC: raw, MQTT_SHARE_GROUP: uniqueName('live_share'), CONNECTOR_CLIENT_ID: uniqueName('live_connector') },
      processor: { KAFKA_INPUT_TOPIC: raw, KAFKA_OUTPUT_TOPIC: decoded, KAFKA_ACTIVITY_TOPIC: activity, KAFKA_CONSUMER_GROUP: groups.processor, PROCESSOR_INSTANCE_ID: uniqueName('live_p') },
      sink: { KAFKA_INPUT_TOPIC: decoded, KAFKA_CONSUMER_GROUP: groups.sink, SINK_INSTANCE_ID: uniqueName('live_s') },
      fleet: { KAFKA_ACTIVITY_TOPIC: activity, KAFKA_RAW_TOPIC: raw, FLEET_UPSTREAM_GROUP: groups.processor, KAFKA_STATE_TOPIC: state, KAFKA_CONSUMER_GROUP: groups.fleet, FLEET_INSTANCE_ID: uniqueName('live_f') },
      dispatcher: { MQTT_USERNAME: broker.dispatcher.username, MQTT_PASSWORD: broker.dispatcher.password, KAFKA_COMMAND_TOPIC: commands, KAFKA_CONSUMER_GROUP: groups.dispatcher, DISPATCHER_CLIENT_ID: uniqueName('live_dispatcher') },
      // Readings every few seconds, so every stage sees traffic soon.
      // Each simulated controller over TLS with its own account, given as the admin.
      simulator: { PUBLISH_INTERVAL: '3', MQTT_TLS_PASSWORD_PORT: tls.port, MQTT_CA_FILE: broker.pki.caCert, MQTT_ADMIN_PASSWORD: broker.admin.password },
      health: {
        MQTT_USERNAME: broker.health.username,
        MQTT_PASSWORD: broker.health.password,
        HEALTH_HOST: '127.0.0.1',
        HEALTH_PORT: String(PORTS.health),
        HEALTH_PROBE_INTERVAL_MS: '2000',
        HEALTH_PROBE_TIMEOUT_MS: '1500',
        HEALTH_SERVICES: ['simulator', 'connector', 'processor', 'sink', 'fleet', 'dispatcher', 'api'].map(s => `${s}=http://127.0.0.1:${PORTS[s]}`).join(','),
        HEALTH_LAG_GROUPS: `${groups.processor}:${raw},${groups.sink}:${decoded},${groups.fleet}:${activity}`
      }
    }
    startedAt = Date.now()
    for (const name of ORDER) {
      const def = supervised.find(s => s.name === name)
      const child = spawn(join(ROOT, 'node_modules/.bin/node'), ['src/cli.ts', ...(def?.args ?? [name])], {
        cwd: ROOT,
        env: { ...process.env, ...base, ...def?.env, ...own[name], HTTP_PORT: String(PORTS[name]), LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      logs.set(name, '')
      const append = (chunk: Buffer): void => { logs.set(name, ((logs.get(name) ?? '') + chunk.toString()).slice(-20_000)) }
      child.stdout?.on('data', append)
      child.stderr?.on('data', append)
      started.push(child)
    }
    // The processor reports ready once it has written a batch, i.e. once traffic flows.
    for (const name of ORDER) {
      await until(`${name} /readyz`, 90_000, async () => (await get(url(name, '/readyz')))?.status === 200 ? true : undefined)
    }
    // Traffic: wait until rows from the simulator have reached the database through every stage.
    await until('rows written by the sink', 90_000, async () => {
      const { samples } = await scrape('sink')
      const rows = samples.filter(s => s.name === 'f2_sink_rows_written_total').reduce((a, s) => a + s.value, 0)
      return rows > 0 ? true : undefined
    })
  }, 240_000)

  afterAll(async () => {
    await Promise.all(started.map(child => new Promise<void>(resolve => {
      if (child.exitCode !== null || child.signalCode !== null) { resolve(); return }
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 20_000)
      child.once('exit', () => { clearTimeout(timer); resolve() })
      child.kill('SIGTERM')
    })))
    await registry?.drop()
    await timeseries?.drop()
    await topics?.delete()
    await broker?.stop()
  }, 60_000)

  const catalogue = documentedMetrics()

  it.each(Object.keys(DEFAULT_PORTS))('%s serves parseable /metrics with every documented metric', async service => {
    const { types, samples } = await scrape(service)
    const documented = catalogue.filter(m => m.service === service)
    expect(documented.length).toBeGreaterThan(0)
    for (const m of documented) expect(types.get(m.name), `${service}: ${m.name}`).toBe(m.type)
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_seconds']) {
      expect(samples.some(s => s.name === name && s.labels.service === service), `${service}: ${name}`).toBe(true)
    }
    // No undocumented stage metric either: the catalogue is the contract.
    const undocumented = [...types.keys()].filter(n => n.startsWith(`f2_${service}_`) && !documented.some(m => m.name === n))
    expect(undocumented).toEqual([])
  })

  it('counts the traffic at every stage', async () => {
    const total = (e: Exposition, name: string): number => e.samples.filter(s => s.name === name).reduce((a, s) => a + s.value, 0)
    expect(total(await scrape('simulator'), 'f2_simulator_messages_sent_total')).toBeGreaterThan(0)
    expect(total(await scrape('connector'), 'f2_connector_messages_forwarded_total')).toBeGreaterThan(0)
    expect(total(await scrape('processor'), 'f2_processor_measurements_produced_total')).toBeGreaterThan(0)
    expect(total(await scrape('sink'), 'f2_sink_rows_written_total')).toBeGreaterThan(0)
  })

  it('has every Prometheus target up', async () => {
    // Prometheus scrapes every 15 s: give it two rounds to see the services started above.
    const ours = [...onDefaultPort].sort()
    let last: { notUp: string[], jobs: string[], stale: string[] }
    const deadline = Date.now() + 50_000
    for (;;) {
      const body = await (await get(`${prometheus}/api/v1/targets?state=active`))?.json() as { data: { activeTargets: Array<{ labels: { job: string }, health: string, lastError: string, lastScrape: string }> } } | undefined
      const targets = body?.data.activeTargets ?? []
      last = {
        notUp: targets.length === 0 ? ['no active targets'] : targets.filter(t => t.health !== 'up').map(t => `${t.labels.job}: ${t.health} ${t.lastError}`),
        jobs: targets.map(t => t.labels.job).sort(),
        // A service of this test counts once Prometheus has scraped it after it started.
        stale: targets.filter(t => ours.includes(t.labels.job) && !(Date.parse(t.lastScrape) > startedAt)).map(t => t.labels.job)
      }
      if ((last.notUp.length === 0 && last.stale.length === 0) || Date.now() > deadline) break
      await new Promise(resolve => setTimeout(resolve, 1000))
    }
    expect(last, `services on their documented ports started here: ${ours.join(', ') || 'none'}`).toEqual({
      notUp: [],
      stale: [],
      jobs: ['api', 'connector', 'dispatcher', 'fleet', 'health', 'kafka', 'node', 'postgres-registry', 'postgres-timeseries', 'processor', 'prometheus', 'simulator', 'sink']
    })
  }, 60_000)

  it('reports every component healthy on /health', async () => {
    const body = await until('health monitor all healthy', 30_000, async () => {
      const b = await (await get(url('health', '/health')))?.json() as { status: string, services: Record<string, { status: string }> } | undefined
      return b?.status === 'healthy' ? b : undefined
    })
    expect(Object.keys(body.services).sort()).toEqual(['api', 'connector', 'dispatcher', 'fleet', 'kafka', 'mqtt', 'processor', 'prometheus', 'registry-db', 'simulator', 'sink', 'timeseries-db'])
  })
})
