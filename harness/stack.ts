import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { Admin } from '@platformatic/kafka'
import postgres from 'postgres'
import { z } from 'zod'
import { env, loadConfig, type Env } from '../src/adapters/config.ts'
import { kafkaFields, pickKafka } from '../src/adapters/connections/kafka.ts'
import { mqttFields, pickMqtt } from '../src/adapters/connections/mqtt.ts'
import { pickPostgres, postgresFields, postgresUrl, type PostgresConnection } from '../src/adapters/connections/postgres.ts'
import { STACK_HOST, STACK_PORTS } from '../src/adapters/connections/stack-ports.ts'
import { stackPaths } from '../src/stack/config.ts'
import { readStackSecret } from '../src/stack/secrets.ts'
import { DB_ROLES } from '../src/storage/roles.ts'

/**
 * Where the integration tests and the benchmark find the stack: env vars (seed names, set by
 * `npm test`), else the native stack's layout with the generated passwords of its
 * `.stack/secrets`. Database URLs are the owners': tests create databases and tables.
 */
export interface StackEnv {
  mqttUrl: string
  kafkaBootstrap: string
  registryUrl: string
  timeseriesUrl: string
  prometheusUrl: string
}

/**
 * The environment read through the same connection schemas as the services
 * (src/adapters/connections): the same names, the same defaults (the stack's port table with
 * F2_STACK_PORT_OFFSET), the same errors for a bad port. The databases' owners log in unless
 * `<PREFIX>_USER` says otherwise; their passwords default to the stack's generated ones.
 */
const schema = z.object({
  ...mqttFields,
  ...kafkaFields,
  ...postgresFields('registry', DB_ROLES.registry.owner, { passwordOptional: true }),
  ...postgresFields('timeseries', DB_ROLES.timeseries.owner, { passwordOptional: true }),
  MQTT_TLS_PORT: env.port(),
  MQTT_TLS_PASSWORD_PORT: env.port(),
  PROMETHEUS_URL: z.url().optional()
})

/** The environment as the harness reads it (for the few settings StackEnv does not carry). */
export function harnessConfig (source: Env = process.env): Readonly<z.output<typeof schema>> {
  return loadConfig('test harness', schema, source)
}

type Kind = 'registry' | 'timeseries'

/** The generated password of `kind`'s `role` (the stack must have started once). */
export function stackRolePassword (kind: Kind, role: string): string {
  const secret = readStackSecret(stackPaths(), `${kind}-${role}`)
  if (secret === undefined) throw new Error(`no generated password for ${kind}/${role}: start the stack first (npm run stack -- up)`)
  return secret
}

function ownerConnection (kind: Kind, c: z.output<typeof schema>): PostgresConnection {
  const conn = pickPostgres(kind, c)
  return conn.password === '' ? { ...conn, password: stackRolePassword(kind, 'owner') } : conn
}

/** The URL of `kind`'s database (or of `database` on the same server) as the service role `role`. */
export function roleUrl (kind: Kind, role: string, database?: string): string {
  const c = harnessConfig()
  const user = (DB_ROLES[kind] as Record<string, string>)[role]
  if (user === undefined) throw new Error(`${kind} has no role ${role}`)
  const base = pickPostgres(kind, c)
  return postgresUrl({ ...base, user, password: stackRolePassword(kind, role), database: database ?? base.database })
}

export function stackEnv (): StackEnv {
  const c = harnessConfig()
  return {
    mqttUrl: pickMqtt(c).url,
    kafkaBootstrap: pickKafka(c).join(','),
    registryUrl: postgresUrl(ownerConnection('registry', c)),
    timeseriesUrl: postgresUrl(ownerConnection('timeseries', c)),
    prometheusUrl: c.PROMETHEUS_URL ?? `http://${STACK_HOST}:${STACK_PORTS.prometheus + c.F2_STACK_PORT_OFFSET}`
  }
}

/** A name no other test run uses: `<prefix>_<time>_<random>`, lower case, safe as a topic or SQL identifier. */
export function uniqueName (prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`.toLowerCase()
}

export function uniqueTopicName (prefix: string): string {
  return uniqueName(prefix.replace(/[^a-zA-Z0-9._-]/g, '_'))
}

/** `url` with its database name replaced by `name`. */
export function withDatabase (url: string, name: string): string {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

/** Creates the empty database `name` on the server of `serverUrl` (as its user, who owns it); returns its URL. */
export async function createDatabase (serverUrl: string, name: string): Promise<string> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  return withDatabase(serverUrl, name)
}

/**
 * Drops `name`, ending the owner's leftover sessions (FORCE). A service role's session (a sink
 * or fleet stage stopped a moment ago) may only be ended by itself, and a server being
 * restarted (the fault suite) refuses for a while: both are retried, up to `timeoutMs`.
 */
export async function dropDatabase (serverUrl: string, name: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const sql = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 })
    try {
      await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      return
    } catch (err) {
      if (Date.now() > until) throw err
      await sleep(200)
    } finally {
      await sql.end({ timeout: 1 }).catch(() => {})
    }
  }
}

export interface TempDatabase {
  /** Connection URL of the new, empty database (as the owner of the stack's database, who owns it). */
  url: string
  name: string
  drop: () => Promise<void>
}

/** Creates an empty database on the registry or time-series server; `drop()` removes it, closing leftover connections. */
export async function createTempDatabase (kind: 'registry' | 'timeseries'): Promise<TempDatabase> {
  const env = stackEnv()
  const base = kind === 'registry' ? env.registryUrl : env.timeseriesUrl
  const name = uniqueName(`t_${kind}`)
  const url = await createDatabase(base, name)
  return { url, name, drop: () => dropDatabase(base, name) }
}

/** An admin client of the stack's Kafka (or of `bootstrap`, e.g. a private broker). */
export function kafkaAdmin (clientId = 'f2-test-admin', bootstrap = stackEnv().kafkaBootstrap): Admin {
  return new Admin({ clientId, bootstrapBrokers: bootstrap.split(',') })
}

export interface TempTopics {
  names: string[]
  delete: () => Promise<void>
}

/** Creates `names` with `partitions` partitions each (one replica) and waits until every partition has a leader. */
export async function createTempTopics (names: string[], partitions = 1, bootstrap = stackEnv().kafkaBootstrap): Promise<TempTopics> {
  const admin = kafkaAdmin('f2-test-admin', bootstrap)
  try {
    await admin.createTopics({ topics: names, partitions, replicas: 1 })
    const until = Date.now() + 20_000
    for (;;) {
      const meta = await admin.metadata({ topics: names, forceUpdate: true })
      const ready = names.every(n => {
        const t = meta.topics.get(n)
        return t !== undefined && t.partitionsCount === partitions && t.partitions.every(p => p.leader >= 0)
      })
      if (ready) break
      if (Date.now() > until) throw new Error(`topics ${names.join(', ')} have no leaders after 20 s`)
      await sleep(100)
    }
  } finally {
    await admin.close()
  }
  return { names, delete: () => deleteTopics(names, bootstrap) }
}

/** Deletes `names`; topics already gone (or Kafka down) leave nothing to clean up. */
export async function deleteTopics (names: string[], bootstrap = stackEnv().kafkaBootstrap): Promise<void> {
  const admin = kafkaAdmin('f2-test-admin', bootstrap)
  try {
    await admin.deleteTopics({ topics: names })
  } catch { /* already gone, or Kafka down: nothing to keep */ } finally {
    await admin.close().catch(() => {})
  }
}
