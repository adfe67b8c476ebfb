import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * Helpers for the deployment tests. Compose files are checked by a real compose implementation:
 * Debian's `docker-compose` (1.29, `apt-get install docker-compose`) validates a file against its
 * compose-spec schema and prints the resolved model (interpolation, anchors, relative paths made
 * absolute) without any Docker engine. YAML is read with PyYAML, which that package depends on.
 */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const MAIN_FILE = 'docker-compose.yml'
export const MONITORING_FILE = 'monitoring/docker-compose.monitoring.yml'

export interface ComposeService {
  image?: string
  build?: { context: string, dockerfile?: string }
  command?: string[]
  entrypoint?: string[]
  environment?: Record<string, string | null>
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] | string, disable?: boolean }
  restart?: string
  expose?: string[]
  /** Long form, or `host_ip:published:target/proto` as docker-compose 1.29 prints a port bound to an address. */
  ports?: Array<{ target: number, published?: number | string, host_ip?: string } | string>
  volumes?: string[]
  networks?: Record<string, unknown>
}

export interface ComposeModel {
  services: Record<string, ComposeService>
  volumes?: Record<string, unknown>
  networks?: Record<string, { name?: string, external?: boolean | { name?: string } }>
}

/** Every password the compose files require (`${NAME:?…}`): compose refuses to start without them. */
export const REQUIRED_SECRETS = [
  'PG_SUPERUSER_PASSWORD', 'POSTGRES_PASSWORD', 'POSTGRES_PROCESSOR_PASSWORD', 'POSTGRES_READER_PASSWORD', 'POSTGRES_API_PASSWORD', 'POSTGRES_DISPATCHER_PASSWORD',
  'TIMESCALE_PASSWORD', 'TIMESCALE_SINK_PASSWORD', 'TIMESCALE_FLEET_PASSWORD', 'TIMESCALE_READER_PASSWORD', 'GF_SECURITY_ADMIN_PASSWORD',
  'MQTT_ADMIN_PASSWORD', 'MQTT_CONNECTOR_PASSWORD', 'MQTT_HEALTH_PASSWORD', 'MQTT_DISPATCHER_PASSWORD'
] as const

/** What an operator puts in `.env`: a distinct random value per password, new for every test run. */
export const TEST_SECRETS: Readonly<Record<string, string>> = Object.freeze(Object.fromEntries(
  REQUIRED_SECRETS.map(name => [name, `${name.toLowerCase()}-${randomBytes(6).toString('hex')}`])))

/** A clean environment, so values from the caller's shell cannot leak into interpolation. */
function cleanEnv (extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...extra }
}

/**
 * `docker-compose [--env-file f] -f file config` with `env` in the environment (by default the
 * passwords an operator sets, TEST_SECRETS): throws with compose's message when invalid.
 */
export function composeConfigText (file: string, envFile?: string, env: Record<string, string> = TEST_SECRETS): string {
  const args = [...(envFile === undefined ? [] : ['--env-file', join(ROOT, envFile)]), '-f', join(ROOT, file), 'config']
  try {
    return execFileSync('docker-compose', args, { cwd: ROOT, env: cleanEnv(env), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  } catch (err) {
    const e = err as { code?: string, stderr?: string, message: string }
    if (e.code === 'ENOENT') throw new Error('docker-compose is not installed (Debian package docker-compose)', { cause: err })
    throw new Error(`docker-compose config rejected ${file}:\n${e.stderr ?? e.message}`, { cause: err })
  }
}

const YAML_TO_JSON = 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'

/** Parses YAML text with the system PyYAML (a dependency of Debian's docker-compose). */
export function parseYaml (text: string): unknown {
  return JSON.parse(execFileSync('/usr/bin/python3', ['-c', YAML_TO_JSON], { input: text, encoding: 'utf8' }))
}

export const readYaml = (file: string): unknown => parseYaml(readFileSync(join(ROOT, file), 'utf8'))

const cache = new Map<string, ComposeModel>()

/** The resolved model of a compose file, as compose itself sees it (defaults from the file). */
export function composeModel (file: string, envFile?: string): ComposeModel {
  const key = `${file}\u0000${envFile ?? ''}`
  let model = cache.get(key)
  if (model === undefined) {
    model = parseYaml(composeConfigText(file, envFile)) as ComposeModel
    cache.set(key, model)
  }
  return model
}

/** Every `${NAME…}` that a compose file interpolates (`$${…}` is an escaped literal). */
export function interpolatedNames (file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const names = new Set<string>()
  for (const m of text.matchAll(/(?<!\$)\$\{([A-Z_][A-Z0-9_]*)/g)) names.add(m[1] as string)
  return [...names].sort()
}

/** `NAME=value` lines of a dotenv file. */
export function readDotenv (file: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of readFileSync(join(ROOT, file), 'utf8').split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line)
    if (m !== null) out.set(m[1] as string, m[2] as string)
  }
  return out
}

export interface PublishedPort {
  /** The host address it is bound to; undefined = every interface. */
  hostIp: string | undefined
  published: number
  target: number
}

/** The ports a service publishes on the host, whichever form compose printed them in. */
export function publishedPorts (service: ComposeService): PublishedPort[] {
  return (service.ports ?? []).map(p => {
    if (typeof p !== 'string') return { hostIp: p.host_ip, published: Number(p.published), target: Number(p.target) }
    const m = /^(?:(.+):)?(\d+):(\d+)(?:\/\w+)?$/.exec(p)
    if (m === null) throw new Error(`unexpected port ${p}`)
    return { hostIp: m[1], published: Number(m[2]), target: Number(m[3]) }
  })
}

/** Container ports a service offers on the network: `expose` plus the targets of `ports`. */
export function containerPorts (service: ComposeService): number[] {
  return [...(service.expose ?? []).map(Number), ...publishedPorts(service).map(p => p.target)]
}
