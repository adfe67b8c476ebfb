import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs'
import { join, relative, sep } from 'node:path'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { KAFKA_MESSAGE_MAX_BYTES } from '../../src/adapters/kafka.ts'
import { DB_ROLES } from '../../src/storage/roles.ts'
import { composeConfigText, composeModel, interpolatedNames, MAIN_FILE, MONITORING_FILE, publishedPorts, readDotenv, REQUIRED_SECRETS, ROOT, TEST_SECRETS, type ComposeModel, type ComposeService } from './compose.ts'

const FILES = [MAIN_FILE, MONITORING_FILE]
const main = (): ComposeModel => composeModel(MAIN_FILE)
const monitoring = (): ComposeModel => composeModel(MONITORING_FILE)
const allServices = (): Array<[string, ComposeService]> => [...Object.entries(main().services), ...Object.entries(monitoring().services)]

/** Services run from the project's image; their first command word is the CLI command. */
const appServices = (): Array<[string, ComposeService, string]> => allServices()
  .filter(([, s]) => s.image?.startsWith('f2-pipeline:') === true)
  .map(([name, s]) => [name, s, s.command?.[0] ?? ''])

const ONE_SHOTS = ['kafka-jmx-agent', 'kafka-init', 'migrate', 'mosquitto-init']

// Read outside the services' schemas: LOG_LEVEL by src/adapters/logger.ts (every service);
// the migration command reads the two database groups (src/adapters/connections/postgres.ts) and its
// policy defaults (src/storage/migrate-cli.ts) without a zod schema.
/** Read by the logger (LOG_LEVEL) and by Node itself (NODE_OPTIONS: the fleet state's young generation). */
const COMMON_ENV = ['LOG_LEVEL', 'NODE_OPTIONS']
const pgGroup = (prefix: string): string[] => ['HOST', 'PORT', 'DB', 'USER', 'PASSWORD'].map(k => `${prefix}_${k}`)
const MIGRATE_ENV = [...pgGroup('POSTGRES'), ...pgGroup('TIMESCALE'), 'TIMESCALE_COMPRESS_AFTER', 'TIMESCALE_RETAIN_FOR']

type ConfigModule = Record<string, unknown> & { schema?: z.ZodObject }

async function configModule (command: string): Promise<ConfigModule> {
  const file = join(ROOT, 'src', 'stages', command, 'config.ts')
  if (!existsSync(file)) throw new Error(`src/stages/${command}/config.ts does not exist`)
  return await import(file) as ConfigModule
}

function envOf (service: ComposeService): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, v ?? '']))
}

describe('compose files', { timeout: 30_000 }, () => {
  it.each(FILES)('%s is accepted by docker-compose config', file => {
    expect(composeConfigText(file)).toMatch(/^services:/m)
  })

  it.each(FILES)('%s resolves the same with .env.example as with no .env (the example shows the defaults)', file => {
    expect(composeConfigText(file, '.env.example')).toBe(composeConfigText(file))
  })

  it('.env.example lists every variable the compose files interpolate, and nothing else', () => {
    const listed = [...readDotenv('.env.example').keys()].sort()
    const used = [...new Set(FILES.flatMap(interpolatedNames))].sort()
    expect(listed).toEqual(used)
  })

  it('the pipeline network has a fixed name that the monitoring file joins', () => {
    expect(main().networks?.default?.name).toBe('f2-pipeline')
    const joined = monitoring().networks?.default
    expect(joined?.external === true || typeof joined?.external === 'object').toBe(true)
    expect(joined?.name).toBe('f2-pipeline')
  })

  it('every file or folder a compose file mounts or builds from exists', () => {
    // Host system paths that node exporter and cAdvisor read on a Docker host.
    const hostPaths = new Set(['/', '/proc', '/sys', '/var/run', '/var/lib/docker', '/dev/disk'])
    const checked: string[] = []
    for (const [name, service] of allServices()) {
      for (const volume of service.volumes ?? []) {
        const [source = '', target = ''] = volume.split(':')
        if (!source.startsWith('/')) {
          expect(Object.keys({ ...main().volumes, ...monitoring().volumes }), `${name}: volume ${source}`).toContain(source)
          continue
        }
        const inRepo = !relative(ROOT, source).startsWith('..')
        if (!inRepo) {
          expect(hostPaths.has(source === '/' ? source : source.replace(/\/$/, '')), `${name}: unexpected host path ${source}`).toBe(true)
          continue
        }
        expect(existsSync(source), `${name}: ${relative(ROOT, source)} is missing`).toBe(true)
        // A file mounted onto a file path must be a file (Docker would create a folder otherwise).
        if (/\.(ya?ml|conf|sh|json)$/.test(target)) expect(statSync(source).isFile(), `${name}: ${source}`).toBe(true)
        checked.push(relative(ROOT, source).split(sep).join('/'))
      }
      if (service.build !== undefined) expect(existsSync(join(service.build.context, service.build.dockerfile ?? 'Dockerfile')), `${name}: build context`).toBe(true)
    }
    expect(checked).toEqual(expect.arrayContaining([
      'deploy/mosquitto/mosquitto.conf', 'deploy/kafka/create-topics.sh', 'templates/kafka/jmx-exporter.yml',
      'monitoring/prometheus/prometheus.yml', 'monitoring/prometheus/rules', 'monitoring/alertmanager/alertmanager.yml',
      'monitoring/grafana/provisioning', 'monitoring/grafana/dashboards'
    ]))
    expect(readdirSync(join(ROOT, 'monitoring/grafana/dashboards')).filter(f => f.endsWith('.json')).length).toBeGreaterThan(0)
  })
})

describe('environment passed to the project services', { timeout: 30_000 }, () => {
  it('covers every service of the image', () => {
    expect(appServices().map(([name, , command]) => `${name}:${command}`).sort())
      .toEqual(['api:api', 'connector-2:connector', 'connector:connector', 'dispatcher:dispatcher', 'fleet:fleet', 'health:health', 'migrate:migrate', 'mosquitto-init:broker-init', 'processor:processor', 'simulator:simulator', 'sink:sink'])
  })

  it('connectors on the shared subscription have distinct, fixed client ids', () => {
    const ids = appServices().filter(([, , c]) => c === 'connector').map(([, s]) => envOf(s).CONNECTOR_CLIENT_ID)
    expect(ids.length).toBeGreaterThan(1)
    expect(ids.every(id => id !== undefined && id !== '')).toBe(true)
    expect(new Set(ids).size).toBe(ids.length)
  })

  it('LOG_LEVEL is read by the shared logger', () => {
    expect(readFileSync(join(ROOT, 'src/adapters/logger.ts'), 'utf8')).toContain('process.env.LOG_LEVEL')
  })

  it.each(['connector', 'processor', 'sink', 'simulator', 'health', 'api', 'fleet', 'dispatcher'])('%s: only variables its config schema declares, every required one, and a config that loads', async command => {
    const running = appServices().filter(([, , c]) => c === command)
    expect(running.length, `no compose service runs ${command}`).toBeGreaterThan(0)
    const mod = await configModule(command)
    const schema = mod.schema
    expect(schema instanceof z.ZodObject, `src/stages/${command}/config.ts must export its env schema as \`schema\``).toBe(true)
    // A setting's older names (the seed's BATCH_SIZE, ...) are read too, as aliases.
    const aliases = (mod.aliases ?? []) as ReadonlyArray<{ alias: string }>
    const declared = [...Object.keys((schema as z.ZodObject).shape), ...aliases.map(a => a.alias)]
    const required = Object.keys((schema as z.ZodObject).shape).filter(k => !(schema as z.ZodObject).shape[k]?.safeParse(undefined).success)
    const load = Object.entries(mod).find(([k, v]) => /^load\w*Config$/.test(k) && typeof v === 'function')?.[1] as ((e: Record<string, string>) => unknown) | undefined
    expect(load, `src/stages/${command}/config.ts exports no load…Config function`).toBeDefined()
    for (const [name, service] of running) {
      const env = envOf(service)
      const undeclared = Object.keys(env).filter(k => !declared.includes(k) && !COMMON_ENV.includes(k))
      expect(undeclared, `${name} passes variables ${command} does not read`).toEqual([])
      expect(required.filter(k => env[k] === undefined), `${name} misses required variables`).toEqual([])
      expect(() => load?.(env), name).not.toThrow()
    }
  })

  it('migrate: only the database variables the migration command reads', () => {
    const [, service] = appServices().find(([, , c]) => c === 'migrate') ?? []
    const env = envOf(service as ComposeService)
    expect(Object.keys(env).filter(k => !MIGRATE_ENV.includes(k) && !COMMON_ENV.includes(k))).toEqual([])
    expect(MIGRATE_ENV.filter(k => env[k] === undefined)).toEqual([])
    const cli = readFileSync(join(ROOT, 'src/storage/migrate-cli.ts'), 'utf8')
    expect(cli).toContain('TIMESCALE_COMPRESS_AFTER')
    expect(cli).toContain('TIMESCALE_RETAIN_FOR')
    expect(service?.command).toEqual(['migrate', 'all'])
  })

  it('every service logs in as its own role, with the password that server gave that role at its first start', () => {
    const s = main().services
    /** role → password, as deploy/postgres/init-roles.sh creates them from the server's environment. */
    const rolesOf = (server: string): Map<string, string> => {
      const e = envOf(s[server] as ComposeService)
      const roles: Array<[string, string]> = [[e.F2_DB_OWNER ?? '', e.F2_DB_OWNER_PASSWORD ?? ''], [e.F2_DB_SERVICE_ROLE ?? '', e.F2_DB_SERVICE_PASSWORD ?? ''], [e.F2_DB_READER_ROLE ?? '', e.F2_DB_READER_PASSWORD ?? '']]
      if (e.F2_DB_SERVICE2_ROLE !== undefined) roles.push([e.F2_DB_SERVICE2_ROLE, e.F2_DB_SERVICE2_PASSWORD ?? ''])
      if (e.F2_DB_SERVICE3_ROLE !== undefined) roles.push([e.F2_DB_SERVICE3_ROLE, e.F2_DB_SERVICE3_PASSWORD ?? ''])
      return new Map(roles)
    }
    const registry = rolesOf('postgres')
    const timeseries = rolesOf('timescaledb')
    expect([...registry.keys()].sort()).toEqual(Object.values(DB_ROLES.registry).sort())
    expect([...timeseries.keys()].sort()).toEqual(Object.values(DB_ROLES.timeseries).sort())
    // Distinct passwords: the superuser's is not any role's, and no two roles share one.
    const passwords = [...registry.values(), ...timeseries.values(), envOf(s.postgres as ComposeService).POSTGRES_PASSWORD]
    expect(new Set(passwords).size).toBe(passwords.length)
    expect(envOf(s.postgres as ComposeService).POSTGRES_USER).toBe('postgres')
    expect(envOf(s.timescaledb as ComposeService).POSTGRES_PASSWORD).toBe(envOf(s.postgres as ComposeService).POSTGRES_PASSWORD)
    const regDb = envOf(s.postgres as ComposeService).POSTGRES_DB
    const tsDb = envOf(s.timescaledb as ComposeService).POSTGRES_DB
    const used: Record<string, string[]> = {}
    for (const [name, service] of appServices()) {
      const env = envOf(service)
      if (env.POSTGRES_HOST !== undefined) {
        expect([env.POSTGRES_HOST, env.POSTGRES_PORT, env.POSTGRES_DB], name).toEqual(['postgres', '5432', regDb])
        expect(registry.get(env.POSTGRES_USER ?? ''), `${name}: ${env.POSTGRES_USER}`).toBe(env.POSTGRES_PASSWORD)
        ;(used[name] ??= []).push(env.POSTGRES_USER ?? '')
      }
      if (env.TIMESCALE_HOST !== undefined) {
        expect([env.TIMESCALE_HOST, env.TIMESCALE_PORT, env.TIMESCALE_DB], name).toEqual(['timescaledb', '5432', tsDb])
        expect(timeseries.get(env.TIMESCALE_USER ?? ''), `${name}: ${env.TIMESCALE_USER}`).toBe(env.TIMESCALE_PASSWORD)
        ;(used[name] ??= []).push(env.TIMESCALE_USER ?? '')
      }
    }
    // Least privilege: the owners only where the schema or the registry is written.
    expect(used).toEqual({
      migrate: ['iot_user', 'ts_user'],
      // The broker's first-start provisioning records controllers in the registry (admin tool).
      'mosquitto-init': ['iot_user'],
      processor: ['iot_processor'],
      sink: ['ts_sink'],
      simulator: ['iot_user'],
      health: ['iot_reader', 'ts_reader'],
      api: ['iot_api', 'ts_reader'],
      fleet: ['iot_reader', 'ts_fleet'],
      dispatcher: ['iot_dispatcher']
    })
    const m = monitoring().services
    const exporter = (name: string): Record<string, string> => envOf(m[name] as ComposeService)
    expect(exporter('postgres-exporter-registry')).toMatchObject({ DATA_SOURCE_URI: `postgres:5432/${regDb}?sslmode=disable`, DATA_SOURCE_USER: 'iot_reader', DATA_SOURCE_PASS: registry.get('iot_reader') })
    expect(exporter('postgres-exporter-timeseries')).toMatchObject({ DATA_SOURCE_URI: `timescaledb:5432/${tsDb}?sslmode=disable`, DATA_SOURCE_USER: 'ts_reader', DATA_SOURCE_PASS: timeseries.get('ts_reader') })
    // Grafana's TimescaleDB datasource takes the database and credentials from its environment.
    expect(exporter('grafana')).toMatchObject({ TIMESCALE_DB: tsDb, TIMESCALE_USER: 'ts_reader', TIMESCALE_PASSWORD: timeseries.get('ts_reader') })
    const datasources = readFileSync(join(ROOT, 'monitoring/grafana/provisioning/datasources/datasources.yml'), 'utf8')
    expect(datasources).toContain('user: ${TIMESCALE_USER}')
    expect(datasources).toContain('database: ${TIMESCALE_DB}')
    expect(datasources).toContain('password: ${TIMESCALE_PASSWORD}')
  })

  it('the databases create the roles at their first start with the project\'s init script', () => {
    for (const server of ['postgres', 'timescaledb']) {
      const volumes = main().services[server]?.volumes ?? []
      expect(volumes, server).toContain(`${join(ROOT, 'deploy/postgres/init-roles.sh')}:/docker-entrypoint-initdb.d/010-f2-roles.sh:ro`)
    }
    const script = readFileSync(join(ROOT, 'deploy/postgres/init-roles.sh'), 'utf8')
    for (const v of ['F2_DB_OWNER', 'F2_DB_OWNER_PASSWORD', 'F2_DB_SERVICE_ROLE', 'F2_DB_SERVICE_PASSWORD', 'F2_DB_READER_ROLE', 'F2_DB_READER_PASSWORD']) expect(script).toContain(v)
    expect(script).toContain('LOGIN CREATEDB')
    expect(script).toContain('REVOKE ALL ON DATABASE')
  })

  it('every Kafka client uses the broker\'s advertised internal listener, and every topic it uses is created', () => {
    const kafka = envOf(main().services.kafka as ComposeService)
    const internal = /INTERNAL:\/\/([^,]+)/.exec(kafka.KAFKA_ADVERTISED_LISTENERS ?? '')?.[1]
    expect(internal).toBe('kafka:29092')
    const used = new Set<string>()
    for (const [name, service] of appServices()) {
      const env = envOf(service)
      if (env.KAFKA_BOOTSTRAP_SERVERS !== undefined) expect(env.KAFKA_BOOTSTRAP_SERVERS, name).toBe(internal)
      for (const key of ['KAFKA_TOPIC', 'KAFKA_INPUT_TOPIC', 'KAFKA_OUTPUT_TOPIC', 'KAFKA_ACTIVITY_TOPIC', 'KAFKA_DEAD_LETTER_TOPIC', 'KAFKA_RAW_TOPIC', 'KAFKA_STATE_TOPIC', 'KAFKA_COMMAND_TOPIC']) if (env[key] !== undefined) used.add(env[key])
    }
    const init = main().services['kafka-init'] as ComposeService
    expect(envOf(init).KAFKA_BOOTSTRAP_SERVERS).toBe(internal)
    // `name:compact` asks create-topics.sh for a compacted topic.
    expect([...used].sort()).toEqual([...(init.command ?? [])].map(t => t.replace(/:compact$/, '')).sort())
    expect([...used].sort()).toEqual(['decoded_iot_data', 'device_activity', 'device_commands', 'device_state', 'iot_dead_letter', 'raw_iot_data'])
    expect(init.command).toContain('device_state:compact')
  })

  it('the broker\'s record limit is the one every stage checks its records against', () => {
    const kafka = envOf(main().services.kafka as ComposeService)
    expect(Number(kafka.KAFKA_MESSAGE_MAX_BYTES)).toBe(KAFKA_MESSAGE_MAX_BYTES)
    expect(Number(kafka.KAFKA_REPLICA_FETCH_MAX_BYTES)).toBe(KAFKA_MESSAGE_MAX_BYTES)
    // A stage told a larger limit than the broker's would send records the broker refuses.
    for (const [name, service] of appServices()) {
      const limit = envOf(service).KAFKA_MAX_RECORD_BYTES
      if (limit !== undefined) expect(Number(limit), name).toBeLessThanOrEqual(KAFKA_MESSAGE_MAX_BYTES)
    }
  })

  it('the health monitor measures the lag of the groups the processor, the sink and the fleet stage consume with', () => {
    const s = main().services
    const pair = (name: string): string => { const e = envOf(s[name] as ComposeService); return `${e.KAFKA_CONSUMER_GROUP}:${e.KAFKA_INPUT_TOPIC ?? e.KAFKA_ACTIVITY_TOPIC}` }
    expect(envOf(monitoring().services.health as ComposeService).HEALTH_LAG_GROUPS?.split(',').sort()).toEqual([pair('processor'), pair('sink'), pair('fleet')].sort())
  })
})

describe('safe defaults', { timeout: 60_000 }, () => {
  const raw = (file: string): string => readFileSync(join(ROOT, file), 'utf8')

  it.each(FILES)('%s refuses to start without its passwords, naming the one missing', file => {
    const needed = REQUIRED_SECRETS.filter(name => interpolatedNames(file).includes(name))
    expect(needed.length).toBeGreaterThan(0)
    for (const name of needed) {
      const env = Object.fromEntries(Object.entries(TEST_SECRETS).filter(([k]) => k !== name))
      expect(() => composeConfigText(file, undefined, env), name).toThrow(new RegExp(`set ${name} in \\.env`))
      // Empty counts as missing, as in a copy of .env.example not filled in.
      expect(() => composeConfigText(file, undefined, { ...env, [name]: '' }), name).toThrow(new RegExp(name))
    }
    expect(() => composeConfigText(file, '.env.example', {}), 'with .env.example as it is').toThrow(/Missing mandatory value/)
  })

  it('every password is required (`${NAME:?…}`), none has a default, and .env.example holds none', () => {
    const text = FILES.map(raw).join('\n')
    const uses = [...text.matchAll(/(?<!\$)\$\{([A-Z_]*PASSWORD[A-Z_]*)(:?[-?+]?)/g)].map(m => [m[1], m[2]])
    expect(uses.length).toBeGreaterThan(10)
    for (const [name, op] of uses) expect(op, name).toBe(':?')
    expect([...new Set(uses.map(u => u[0]))].sort()).toEqual([...REQUIRED_SECRETS].sort())
    const example = readDotenv('.env.example')
    for (const name of REQUIRED_SECRETS) expect(example.get(name), name).toBe('')
    // No fixed credential of earlier versions anywhere.
    for (const file of [...FILES, '.env.example']) expect(raw(file)).not.toMatch(/iot_password|ts_password|ADMIN_PASSWORD:-|PASSWORD=admin/)
  })

  it('every published port is bound to 127.0.0.1, except the MQTT broker\'s (devices connect to it; it authenticates them)', () => {
    const published: string[] = []
    for (const [name, service] of allServices()) {
      for (const port of publishedPorts(service)) {
        published.push(`${name}:${port.published}`)
        if (name !== 'mosquitto') expect(port.hostIp, `${name} publishes ${port.published}`).toBe('127.0.0.1')
      }
    }
    expect(published).toEqual(expect.arrayContaining(['kafka:9092', 'postgres:5432', 'timescaledb:5433', 'prometheus:9090', 'alertmanager:9093', 'grafana:3000', 'health:8000']))
  })

  it('Kafka\'s plaintext listener for the host is advertised on this host only', () => {
    const kafka = envOf(main().services.kafka as ComposeService)
    expect(publishedPorts(main().services.kafka as ComposeService)).toEqual([{ hostIp: '127.0.0.1', published: 9092, target: 9092 }])
    expect(kafka.KAFKA_ADVERTISED_LISTENERS).toMatch(/EXTERNAL:\/\/localhost:9092/)
  })

  it('Prometheus runs without the lifecycle API, in compose and natively', () => {
    expect(monitoring().services.prometheus?.command?.some(a => a.includes('lifecycle'))).toBe(false)
    expect(raw('src/stack/prometheus.ts')).not.toContain("'--web.enable-lifecycle'")
  })

  it('Grafana needs its admin password from the environment and allows no sign-up', () => {
    const env = envOf(monitoring().services.grafana as ComposeService)
    expect(env.GF_SECURITY_ADMIN_PASSWORD).toBe(TEST_SECRETS.GF_SECURITY_ADMIN_PASSWORD)
    expect(env.GF_USERS_ALLOW_SIGN_UP).toBe('false')
  })

  it.each(['connector', 'processor', 'sink', 'simulator'])('%s listens on 127.0.0.1 natively and on every interface in its container', async command => {
    const mod = await configModule(command)
    expect((mod.schema as z.ZodObject).shape.HTTP_HOST?.parse(undefined)).toBe('127.0.0.1')
    expect(raw('Dockerfile')).toMatch(/^\s+HTTP_HOST=0\.0\.0\.0 \\$/m)
  })

  it('the health monitor listens on 127.0.0.1 natively and on every interface in its container', async () => {
    const mod = await configModule('health')
    expect((mod.schema as z.ZodObject).shape.HEALTH_HOST?.parse(undefined)).toBe('127.0.0.1')
    expect(envOf(monitoring().services.health as ComposeService).HEALTH_HOST).toBe('0.0.0.0')
    expect(raw('Dockerfile')).toMatch(/^\s+HEALTH_HOST=0\.0\.0\.0 \\$/m)
  })
})

describe('start order and restarts', { timeout: 30_000 }, () => {
  const imageHasHealthcheck = (): boolean => /^HEALTHCHECK\s+(?!NONE)/m.test(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))
  const hasHealthcheck = (s: ComposeService): boolean =>
    s.healthcheck?.disable !== true && (s.healthcheck !== undefined || (s.image?.startsWith('f2-pipeline:') === true && imageHasHealthcheck()))

  it('one-shot services do not restart; every other service restarts unless stopped', () => {
    for (const [name, service] of allServices()) expect(service.restart, name).toBe(ONE_SHOTS.includes(name) ? 'no' : 'unless-stopped')
  })

  it('every long-running service has a healthcheck (its own or the image\'s)', () => {
    // cAdvisor's image declares its own HEALTHCHECK.
    for (const [name, service] of allServices()) {
      if (!ONE_SHOTS.includes(name) && name !== 'cadvisor') expect(hasHealthcheck(service), name).toBe(true)
    }
  })

  it('depends_on conditions fit their targets: healthy ones have a healthcheck, completed ones are one-shots', () => {
    for (const model of [main(), monitoring()]) {
      for (const [name, service] of Object.entries(model.services)) {
        for (const [target, { condition }] of Object.entries(service.depends_on ?? {})) {
          const dep = model.services[target]
          expect(dep, `${name} -> ${target}`).toBeDefined()
          if (condition === 'service_healthy') expect(hasHealthcheck(dep as ComposeService), `${name} -> ${target}`).toBe(true)
          if (condition === 'service_completed_successfully') expect(ONE_SHOTS, `${name} -> ${target}`).toContain(target)
        }
      }
    }
  })

  it('starts each stage after what it needs', () => {
    const deps = (name: string): Record<string, string> =>
      Object.fromEntries(Object.entries(main().services[name]?.depends_on ?? {}).map(([k, v]) => [k, v.condition]))
    expect(deps('kafka')).toEqual({ 'kafka-jmx-agent': 'service_completed_successfully' })
    expect(deps('kafka-init')).toEqual({ kafka: 'service_healthy' })
    expect(deps('migrate')).toEqual({ postgres: 'service_healthy', timescaledb: 'service_healthy' })
    expect(deps('connector')).toEqual({ mosquitto: 'service_healthy', 'kafka-init': 'service_completed_successfully' })
    for (const stage of ['processor', 'sink']) {
      expect(deps(stage)).toEqual({ 'kafka-init': 'service_completed_successfully', migrate: 'service_completed_successfully' })
    }
    expect(deps('simulator')).toEqual({ connector: 'service_healthy', migrate: 'service_completed_successfully' })
    expect(deps('api')).toEqual({ migrate: 'service_completed_successfully' })
  })
})
