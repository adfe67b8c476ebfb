import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type postgres from 'postgres'
import { createMqttClient, type MqttHandle } from '../../../src/adapters/mqtt.ts'
import { addController, addSensor } from '../../../src/registry/admin.ts'
import { listControllers } from '../../../src/registry/listing.ts'
import { freePort } from '../../../src/stack/ports.ts'
import { connect } from '../../../src/storage/connection.ts'
import { migrate } from '../../../src/storage/migrate.ts'
import { abuseHttp } from '../../../harness/http-abuse.ts'
import { createTempDatabase, stackEnv, uniqueName, type TempDatabase } from '../../../harness/stack.ts'
import { simulatorBrokerEnv, stackBroker } from '../../../harness/broker.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { waitFor } from '../../../harness/wait.ts'

/**
 * The simulator service re-reads its fleet from the registry on SIGHUP: a controller added
 * while it runs starts publishing without a restart, and a registry that cannot be read
 * leaves the running fleet publishing.
 */

const randomMac = (): string => `a7${randomBytes(5).toString('hex')}`
const existing = randomMac()
const added = randomMac()
const seen = new Map<string, number>()
let db: TempDatabase
let sql: postgres.Sql
let observer: MqttHandle
let child: ChildProcess
let exited: Promise<number | null>
let stdout = ''
let metricsUrl: string

async function reloads (result: 'ok' | 'failed'): Promise<number> {
  const text = await (await fetch(metricsUrl)).text()
  const line = text.split('\n').find(l => l.startsWith(`f2_simulator_fleet_reloads_total{result="${result}"`))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

const logged = (msg: string): Array<Record<string, unknown>> => stdout.split('\n')
  .filter(l => l.includes(`"msg":"${msg}"`))
  .map(l => JSON.parse(l) as Record<string, unknown>)

beforeAll(async () => {
  db = await createTempDatabase('registry')
  sql = connect(db.url, { max: 2 })
  await migrate(sql, 'registry')
  await addController(sql, { mac: existing, name: 'Existing' })
  await addSensor(sql, { controller: existing, connector: 3, pin: 1, template: 'Environmental Sensor' })

  observer = createMqttClient({
    url: stackEnv().mqttUrl,
    ...auth(),
    clientId: uniqueName('reload-obs'),
    subscriptions: [existing, added].map(mac => ({ filter: `tele/f2-${mac}/#`, qos: 1 as const })),
    onMessage: m => { const mac = /^tele\/f2-([0-9a-f]{12})\//.exec(m.topic)?.[1] ?? ''; seen.set(mac, (seen.get(mac) ?? 0) + 1) }
  })
  await observer.waitConnected()

  const port = await freePort()
  metricsUrl = `http://127.0.0.1:${port}/metrics`
  const u = new URL(db.url)
  child = spawn(process.execPath, ['src/cli.ts', 'simulator'], {
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      ...simulatorBrokerEnv(stackBroker(), stackBroker().pki.caCert),
      POSTGRES_HOST: u.hostname,
      POSTGRES_PORT: u.port,
      POSTGRES_DB: db.name,
      POSTGRES_USER: decodeURIComponent(u.username),
      POSTGRES_PASSWORD: decodeURIComponent(u.password),
      PUBLISH_INTERVAL: '0.5',
      HTTP_PORT: String(port)
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  child.stdout?.on('data', (d: Buffer) => { stdout += d.toString() })
  child.stderr?.on('data', (d: Buffer) => { stdout += d.toString() })
  exited = new Promise(resolve => child.on('exit', code => resolve(code)))
}, 60_000)

afterAll(async () => {
  if (child?.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await observer?.close()
  await sql?.end({ timeout: 5 })
  await db?.drop()
})

describe('simulator service: SIGHUP reloads the fleet from the registry', () => {
  it('publishes for a controller registered while it runs, after SIGHUP', async () => {
    await waitFor('messages from the existing controller', () => (seen.get(existing) ?? 0) >= 2, 20_000, { stepMs: 100, detail: () => stdout.slice(-3000) })
    expect(seen.get(added)).toBeUndefined()

    await addController(sql, { mac: added, name: 'Added' })
    await addSensor(sql, { controller: added, connector: 3, pin: 2, template: 'Environmental Sensor' })
    child.kill('SIGHUP')

    await waitFor('messages from the added controller', () => (seen.get(added) ?? 0) >= 2, 20_000, { stepMs: 100, detail: () => stdout.slice(-3000) })
    expect(await reloads('ok')).toBe(1)
    expect(await reloads('failed')).toBe(0)
    const controllers = (await listControllers(sql)).length
    expect(logged('fleet reloaded')).toEqual([expect.objectContaining({ controllers })])
    // Both generations' controllers keep publishing.
    const before = seen.get(existing) ?? 0
    await waitFor('the existing controller after the reload', () => (seen.get(existing) ?? 0) > before, 10_000, { stepMs: 100, detail: () => stdout.slice(-3000) })
  }, 60_000)

  it('answers malformed HTTP requests with 4xx, cuts off a slow client, and goes on', async () => {
    expect(await abuseHttp(Number(new URL(metricsUrl).port), 13_000)).toEqual([])
    expect(child.exitCode).toBeNull()
  }, 30_000)

  it('keeps the running fleet when the registry cannot be read, and stops cleanly on SIGTERM', async () => {
    await db.drop()
    child.kill('SIGHUP')
    await waitFor('the failed reload counted', async () => await reloads('failed') === 1, 15_000, { stepMs: 100, detail: () => stdout.slice(-3000) })
    expect(logged('fleet reload failed, the previous fleet keeps running')).toHaveLength(1)

    const before = seen.get(added) ?? 0
    await waitFor('the added controller after the failed reload', () => (seen.get(added) ?? 0) > before + 1, 10_000, { stepMs: 100, detail: () => stdout.slice(-3000) })
    expect(await reloads('ok')).toBe(1)

    child.kill('SIGTERM')
    expect(await exited, stdout.slice(-3000)).toBe(0)
    expect(logged('simulator stopped')).toHaveLength(1)
  }, 60_000)
})
