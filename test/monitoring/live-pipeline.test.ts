import { spawn, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { databaseUrl, serviceEnv, stackConfig } from '../../src/stack/config.ts'
import { services as supervised } from '../../src/stack/services.ts'
import { parseExposition, type Exposition } from '../../src/stages/health/prom-text.ts'
import { migrateAll } from '../../src/storage/migrate.ts'
import { stackEnv } from '../helpers/stack.ts'
import { documentedMetrics } from './metrics-doc.ts'
import { ROOT } from './expressions.ts'

/**
 * The pipeline as `npm start` runs it: every service on its documented port, fed by the
 * simulator. Services already listening (a running `npm start`) are used as they are;
 * missing ones are started here as `node src/cli.ts <service>` and stopped afterwards.
 */
const PORTS: Record<string, number> = { simulator: 9401, connector: 9402, processor: 9403, sink: 9404, health: 8000 }
const ORDER = ['sink', 'processor', 'connector', 'health', 'simulator']
const prometheus = stackEnv().prometheusUrl
const started: ChildProcess[] = []
const logs = new Map<string, string>()

const url = (service: string, path: string): string => `http://127.0.0.1:${PORTS[service]}${path}`
const get = async (u: string): Promise<Response | undefined> => fetch(u, { signal: AbortSignal.timeout(2000) }).catch(() => undefined)

async function until<T> (what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    const dead = started.find(c => c.exitCode !== null)
    if (dead !== undefined) throw new Error(`a service exited (code ${dead.exitCode}) while waiting for ${what}\n${[...logs].map(([k, v]) => `--- ${k}\n${v.slice(-2000)}`).join('\n')}`)
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${[...logs].map(([k, v]) => `--- ${k}\n${v.slice(-2000)}`).join('\n')}`)
    await new Promise(resolve => setTimeout(resolve, 500))
  }
}

async function scrape (service: string): Promise<Exposition> {
  const res = await get(url(service, '/metrics'))
  if (res?.status !== 200) throw new Error(`${service} /metrics answered ${res?.status}`)
  return parseExposition(await res.text())
}

describe('the running pipeline', () => {
  beforeAll(async () => {
    const cfg = stackConfig()
    const base = serviceEnv(cfg)
    // As `npm start` does before its services: schemas (and the sample registry) in place; idempotent.
    await migrateAll({ registry: databaseUrl(cfg.registry), timeseries: databaseUrl(cfg.timeseries) })
    for (const name of ORDER) {
      if ((await get(url(name, '/healthz'))) !== undefined) continue
      const def = supervised.find(s => s.name === name)
      const child = spawn(process.execPath, ['src/cli.ts', ...(def?.args ?? [name])], {
        cwd: ROOT,
        env: { ...process.env, ...base, ...def?.env, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'pipe']
      })
      logs.set(name, '')
      const append = (chunk: Buffer): void => { logs.set(name, (logs.get(name) ?? '') + chunk.toString()) }
      child.stdout?.on('data', append)
      child.stderr?.on('data', append)
      started.push(child)
    }
    for (const name of ORDER) {
      await until(`${name} /readyz`, 60_000, async () => (await get(url(name, '/readyz')))?.status === 200 ? true : undefined)
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
      if (child.exitCode !== null) { resolve(); return }
      child.once('exit', () => resolve())
      child.kill('SIGTERM')
    })))
  }, 30_000)

  const catalogue = documentedMetrics()

  it.each(Object.keys(PORTS))('%s serves parseable /metrics with every documented metric', async service => {
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
    const down = await until('every target up', 45_000, async () => {
      const body = await (await get(`${prometheus}/api/v1/targets?state=active`))?.json() as { data: { activeTargets: Array<{ labels: { job: string }, health: string, lastError: string }> } } | undefined
      const targets = body?.data.activeTargets ?? []
      const notUp = targets.filter(t => t.health !== 'up').map(t => `${t.labels.job}: ${t.health} ${t.lastError}`)
      return targets.length > 0 && notUp.length === 0 ? notUp : undefined
    })
    expect(down).toEqual([])
  }, 60_000)

  it('reports every component healthy on /health', async () => {
    const body = await until('health monitor all healthy', 30_000, async () => {
      const b = await (await get(url('health', '/health')))?.json() as { status: string, services: Record<string, { status: string }> } | undefined
      return b?.status === 'healthy' ? b : undefined
    })
    expect(Object.keys(body.services).sort()).toEqual(['connector', 'kafka', 'mqtt', 'processor', 'prometheus', 'registry-db', 'simulator', 'sink', 'timeseries-db'])
  })
})
