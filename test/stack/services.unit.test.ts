import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { projectRoot } from '../../src/stack/config.ts'
import { services, shiftedServices, simulatorRegisters, stageMemoryEnv } from '../../src/stack/services.ts'

let dir: string | undefined
afterEach(() => { if (dir !== undefined) rmSync(dir, { recursive: true, force: true }) })

describe('stageMemoryEnv', () => {
  it('bounds the young generation and keeps a caller’s NODE_OPTIONS last, so it wins', () => {
    expect(stageMemoryEnv({}).NODE_OPTIONS).toBe('--max-semi-space-size=8')
    expect(stageMemoryEnv({ NODE_OPTIONS: '--max-semi-space-size=16' }).NODE_OPTIONS).toBe('--max-semi-space-size=8 --max-semi-space-size=16')
  })

  it('gives the fleet state its larger young generation, natively and in compose', () => {
    expect(stageMemoryEnv({}, 'fleet').NODE_OPTIONS).toBe('--max-semi-space-size=32')
    expect(stageMemoryEnv({}, 'sink').NODE_OPTIONS).toBe('--max-semi-space-size=8')
    expect(services.find(s => s.name === 'fleet')?.env?.NODE_OPTIONS).toContain('--max-semi-space-size=32')
    const compose = readFileSync(join(projectRoot(), 'docker-compose.yml'), 'utf8')
    const start = compose.indexOf('\n  fleet:\n')
    const next = compose.slice(start + 1).search(/\n {2}[a-z][\w-]*:\n/)
    const fleet = compose.slice(start, start + 1 + next)
    expect(fleet.length).toBeGreaterThan(100)
    expect(fleet).toContain('NODE_OPTIONS: --max-semi-space-size=32')
  })

  it('keeps the compile cache under .cache unless the caller names one', () => {
    expect(stageMemoryEnv({}).NODE_COMPILE_CACHE).toBe(join(projectRoot(), '.cache', 'node-compile'))
    expect(stageMemoryEnv({ NODE_COMPILE_CACHE: '/elsewhere' }).NODE_COMPILE_CACHE).toBe('/elsewhere')
  })

  it('is what the supervisor gives the connector, processor and sink', () => {
    for (const name of ['connector', 'processor', 'sink']) {
      const env = services.find(s => s.name === name)?.env ?? {}
      expect(env).toMatchObject({ MALLOC_ARENA_MAX: '2', NODE_OPTIONS: expect.stringContaining('--max-semi-space-size=8') })
      expect(env.NODE_COMPILE_CACHE).toBeDefined()
    }
  })

  it('is taken by Node: a TypeScript module run with it lands, stripped, in the cache', () => {
    dir = mkdtempSync(join(tmpdir(), 'f2-compile-cache-'))
    const cache = join(dir, 'cache')
    const script = join(dir, 'mod.ts')
    writeFileSync(script, 'const n: number = 41\nconsole.log(n + 1)\n')
    const env = { ...process.env, ...stageMemoryEnv({ NODE_COMPILE_CACHE: cache }) }
    expect(execFileSync(process.execPath, [script], { env, encoding: 'utf8' }).trim()).toBe('42')
    expect(readdirSync(cache, { recursive: true }).length).toBeGreaterThan(0)
  })
})

describe('simulatorRegisters', () => {
  it('is on only when SIM_REGISTER asks for it (the simulator then logs in as the registry owner)', () => {
    expect(simulatorRegisters({})).toBe(false)
    expect(simulatorRegisters({ SIM_REGISTER: 'false' })).toBe(false)
    expect(simulatorRegisters({ SIM_REGISTER: 'true' })).toBe(true)
    expect(simulatorRegisters({ SIM_REGISTER: 'on' })).toBe(true)
  })
})

describe('shiftedServices', () => {
  it('keeps the documented ports on an unshifted stack', () => {
    expect(shiftedServices(0, services)).toEqual(services)
  })

  it('shifts every service port with the stack and tells each service and the health monitor', () => {
    const shifted = shiftedServices(16000, services)
    for (const def of shifted) {
      const base = services.find(s => s.name === def.name)?.port as number
      expect(def.port).toBe(base + 16000)
      if (def.name === 'health') expect(def.env?.HEALTH_PORT).toBe(String(def.port))
      else expect(def.env?.HTTP_PORT).toBe(String(def.port))
    }
    const health = shifted.find(s => s.name === 'health')
    expect(health?.env?.HEALTH_SERVICES).toBe('simulator=http://127.0.0.1:25401,connector=http://127.0.0.1:25402,processor=http://127.0.0.1:25403,sink=http://127.0.0.1:25404,fleet=http://127.0.0.1:25405,dispatcher=http://127.0.0.1:25406,api=http://127.0.0.1:24080')
  })
})
