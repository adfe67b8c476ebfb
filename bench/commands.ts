/**
 * Command latency: from the API call to the controller's confirming reply, on the stack's
 * real servers. The API and the dispatcher run in this process (their real services), a
 * controller that obeys as the simulator does runs beside them with a broker account of its
 * own; the dispatcher uses its own broker account. Commands go one after another (latency,
 * not throughput), cycling through every kind, after 10 unmeasured ones.
 *
 *   npm run bench:commands -- [--commands 200] [--max-seconds 50]
 *
 * Two figures per command: `server` = confirmed_at − accepted_at as the database records them,
 * `client` = from sending the POST until GET /api/commands/{id} shows it confirmed (polled
 * every 5 ms, so up to 5 ms more). Prints percentiles and one JSON line; cleans up after.
 */
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import postgres from 'postgres'
import { createLogger } from '../src/adapters/logger.ts'
import { createMqttClient } from '../src/adapters/mqtt.ts'
import { createRng } from '../src/core/random.ts'
import { loadApiConfig } from '../src/stages/api/config.ts'
import { createApiService } from '../src/stages/api/service.ts'
import { hashSecret } from '../src/stages/api/tokens.ts'
import { loadDispatcherConfig } from '../src/stages/dispatcher/config.ts'
import { createDispatcher } from '../src/stages/dispatcher/service.ts'
import { handleCommand } from '../src/stages/simulator/commands.ts'
import { createDeviceState } from '../src/stages/simulator/device.ts'
import { brokerAccount } from '../src/stack/broker-accounts.ts'
import { stackPaths } from '../src/stack/config.ts'
import { migrate } from '../src/storage/migrate.ts'
import { endSession, testAccount } from '../harness/broker.ts'
import { ensureStack } from './lib/ensure-stack.ts'
import { machineInfo, machineLine } from './lib/machine.ts'
import { createDatabase, createTempTopics, deleteTopics, dropDatabase, ROOT, uniqueName, stackBroker, stackUrls, withDatabase, kafkaPartitions } from './lib/stack.ts'

const { values } = parseArgs({ options: { commands: { type: 'string', default: '200' }, 'max-seconds': { type: 'string', default: '50' } } })
const COUNT = Number(values.commands)
const MAX_MS = Number(values['max-seconds']) * 1000
const WARMUP = 10
const BODIES = [
  { kind: 'strike', connector: 1, position: 1, action: 'power' },
  { kind: 'strike', connector: 1, position: 1, action: 'unpower' },
  { kind: 'siren', connector: 2, position: 1, state: 'on' },
  { kind: 'siren', connector: 2, position: 1, state: 'off' },
  { kind: 'reader-feedback', connector: 1, position: 2, signal: 'success' },
  { kind: 'status', connector: 1, position: 2, component: 'strike' }
]

ensureStack()
const urls = stackUrls()
const id = uniqueName('cmdbench')
const mac = `f2b0${randomBytes(4).toString('hex')}`
const pgEnv = (prefix: string, url: string): Record<string, string> => {
  const u = new URL(url)
  return { [`${prefix}_HOST`]: u.hostname, [`${prefix}_PORT`]: u.port, [`${prefix}_DB`]: u.pathname.slice(1), [`${prefix}_USER`]: decodeURIComponent(u.username), [`${prefix}_PASSWORD`]: decodeURIComponent(u.password) }
}
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)] ?? Number.NaN

const registryUrl = withDatabase(urls.registryUrl, id)
const timeseriesUrl = withDatabase(urls.timeseriesUrl, id)
await createDatabase(urls.registryUrl, id)
await createDatabase(urls.timeseriesUrl, id)
const sql = postgres(registryUrl, { max: 2, onnotice: () => {} })
const ts = postgres(timeseriesUrl, { max: 1, onnotice: () => {} })
const broker = stackBroker()
const account = await testAccount({ admin: { url: broker.mqttUrl, ...broker.admin } }, { publish: [`stat/f2-${mac}/#`, `tele/f2-${mac}/#`], subscribe: [`cmnd/f2-${mac}/#`] })
const logger = createLogger('bench', 'silent')
const cleanup: Array<() => Promise<unknown>> = []
try {
  await migrate(sql, 'registry')
  await migrate(ts, 'timeseries')
  const [d] = await sql<Array<{ id: number }>>`INSERT INTO "Device" ("DeviceName", "MacAddress") VALUES ('bench door', ${mac}) RETURNING "DeviceId" AS id`
  for (const [n, mode] of [[1, 'access-control-mode'], [2, 'alarm-mode']] as const) {
    const [c] = await sql<Array<{ id: number }>>`INSERT INTO "Connector" ("ControllerId", "ConnectorNumber", "Mode") VALUES (${d?.id ?? 0}, ${n}, ${mode}) RETURNING "ConnectorId" AS id`
    await sql`INSERT INTO "Pin" ("ConnectorId", "Position") VALUES (${c?.id ?? 0}, 1), (${c?.id ?? 0}, 2)`
  }
  const secret = randomBytes(32).toString('base64url')
  await sql`INSERT INTO api_tokens (token_id, name, secret_hash, scopes) VALUES ('be0c0de00001', 'bench', ${hashSecret(secret)}, ${['command', 'read']})`
  const token = `f2_be0c0de00001_${secret}`
  const topic = `device_commands_${id}`
  await createTempTopics([topic], kafkaPartitions)
  cleanup.push(async () => { await deleteTopics([topic]) })

  const state = createDeviceState({ mac, name: 'bench', connectors: [{ number: 1, mode: 'access-control-mode', sensors: [] }, { number: 2, mode: 'alarm-mode', sensors: [] }] }, createRng(1))
  const controller = createMqttClient({
    url: broker.mqttUrl,
    clientId: `f2-${mac}`,
    username: account.username,
    password: account.password,
    subscriptions: [{ filter: `cmnd/f2-${mac}/#`, qos: 1 }],
    onMessage: m => {
      for (const r of handleCommand(state, m.topic, m.payload.toString('utf8'), () => '2026-01-01 00:00:00.000001').replies) void controller.publish(r.topic, r.payload, { qos: 1 })
    }
  })
  await controller.waitConnected(10_000)
  cleanup.push(async () => { await controller.close() })

  const dispatcherAccount = brokerAccount(stackPaths(ROOT), 'dispatcher')
  // Run after the dispatcher has stopped (cleanups run in reverse): its session is this run's alone.
  cleanup.push(async () => { await endSession(broker.mqttUrl, `f2-dispatcher-${id}`, dispatcherAccount) })
  const dispatcher = createDispatcher(loadDispatcherConfig({
    KAFKA_BOOTSTRAP_SERVERS: urls.kafka, KAFKA_COMMAND_TOPIC: topic, KAFKA_CONSUMER_GROUP: `dispatcher-${id}`,
    MQTT_BROKER: broker.mqttUrl, MQTT_USERNAME: dispatcherAccount.username, MQTT_PASSWORD: dispatcherAccount.password,
    DISPATCHER_CLIENT_ID: `f2-dispatcher-${id}`, HTTP_PORT: '0', ...pgEnv('POSTGRES', registryUrl)
  }), logger)
  await dispatcher.start()
  cleanup.push(async () => { await dispatcher.stop(5000) })
  const api = createApiService(loadApiConfig({ HTTP_PORT: '0', KAFKA_BOOTSTRAP_SERVERS: urls.kafka, KAFKA_COMMAND_TOPIC: topic, ...pgEnv('POSTGRES', registryUrl), ...pgEnv('TIMESCALE', timeseriesUrl) }), logger)
  await api.start()
  cleanup.push(async () => { await api.stop(2000) })
  const base = `http://127.0.0.1:${api.port()}`
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }

  const client: number[] = []
  const ids: string[] = []
  const started = Date.now()
  let unconfirmed = 0
  for (let i = 0; i < COUNT + WARMUP && Date.now() - started < MAX_MS; i++) {
    const t0 = performance.now()
    const res = await fetch(`${base}/api/devices/${mac}/commands`, { method: 'POST', headers, body: JSON.stringify(BODIES[i % BODIES.length]) })
    const cid = ((await res.json()) as { command_id: string }).command_id
    for (;;) {
      const c = (await (await fetch(`${base}/api/commands/${cid}`, { headers })).json()) as { state: string }
      if (c.state === 'confirmed') break
      if (c.state !== 'accepted' && c.state !== 'sent') { unconfirmed++; break }
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    if (i >= WARMUP) { client.push(performance.now() - t0); ids.push(cid) }
  }
  const rows = await sql<Array<{ ms: number }>>`SELECT extract(epoch FROM confirmed_at - accepted_at)::float8 * 1000 AS ms FROM device_commands WHERE command_id = ANY(${ids}::uuid[]) AND state = 'confirmed'`
  const server = rows.map(r => r.ms).sort((a, b) => a - b)
  client.sort((a, b) => a - b)
  const fmt = (v: number): string => v.toFixed(1).padStart(8)
  process.stdout.write(`${machineLine(await machineInfo())}\ncommands measured: ${client.length} (not confirmed: ${unconfirmed})\n`)
  process.stdout.write('            p50      p95      p99      max  (ms)\n')
  for (const [name, v] of [['server', server], ['client', client]] as const) {
    process.stdout.write(`${name.padEnd(8)}${fmt(percentile(v, 50))} ${fmt(percentile(v, 95))} ${fmt(percentile(v, 99))} ${fmt(v.at(-1) ?? Number.NaN)}\n`)
  }
  process.stdout.write(`${JSON.stringify({ bench: 'commands', commands: client.length, unconfirmed, server_p99_ms: percentile(server, 99), client_p99_ms: percentile(client, 99), client_p50_ms: percentile(client, 50) })}\n`)
} finally {
  for (const c of cleanup.reverse()) await c().catch(() => undefined)
  await account.remove().catch(() => undefined)
  await sql.end({ timeout: 2 })
  await ts.end({ timeout: 2 })
  await dropDatabase(urls.registryUrl, id).catch(() => undefined)
  await dropDatabase(urls.timeseriesUrl, id).catch(() => undefined)
}
