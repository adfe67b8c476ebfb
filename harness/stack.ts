import { randomBytes } from 'node:crypto'
import { Admin } from '@platformatic/kafka'
import postgres from 'postgres'
import { stackPaths } from '../src/stack/config.ts'
import { readStackSecret } from '../src/stack/secrets.ts'
import { DB_ROLES } from '../src/storage/roles.ts'

/**
 * Where the integration tests find the stack: env vars (seed names, set by `npm test`), else
 * the native stack's layout with the generated passwords of its `.stack/secrets`. Database
 * URLs are the owners': tests create databases and tables.
 */
export interface StackEnv {
  mqttUrl: string
  kafkaBootstrap: string
  registryUrl: string
  timeseriesUrl: string
  prometheusUrl: string
}

/** The stack can run with every port shifted (F2_STACK_PORT_OFFSET); defaults follow it. */
const offset = (): number => Number(process.env.F2_STACK_PORT_OFFSET ?? 0)

type Kind = 'registry' | 'timeseries'

/** The generated password of `kind`'s `role` (the stack must have started once). */
export function stackRolePassword (kind: Kind, role: string): string {
  const secret = readStackSecret(stackPaths(), `${kind}-${role}`)
  if (secret === undefined) throw new Error(`no generated password for ${kind}/${role}: start the stack first (npm run stack -- up)`)
  return secret
}

function pgUrl (prefix: 'POSTGRES' | 'TIMESCALE', kind: Kind, defaults: { port: number, db: string }): string {
  const env = process.env
  const host = env[`${prefix}_HOST`] ?? '127.0.0.1'
  const port = env[`${prefix}_PORT`] ?? String(defaults.port + offset())
  const user = encodeURIComponent(env[`${prefix}_USER`] ?? DB_ROLES[kind].owner)
  const password = encodeURIComponent(env[`${prefix}_PASSWORD`] ?? stackRolePassword(kind, 'owner'))
  const db = env[`${prefix}_DB`] ?? defaults.db
  return `postgres://${user}:${password}@${host}:${port}/${db}`
}

/** The URL of `kind`'s database (or of `database` on the same server) as the service role `role`. */
export function roleUrl (kind: Kind, role: string, database?: string): string {
  const url = new URL(kind === 'registry' ? stackEnv().registryUrl : stackEnv().timeseriesUrl)
  const user = (DB_ROLES[kind] as Record<string, string>)[role]
  if (user === undefined) throw new Error(`${kind} has no role ${role}`)
  url.username = encodeURIComponent(user)
  url.password = encodeURIComponent(stackRolePassword(kind, role))
  if (database !== undefined) url.pathname = `/${database}`
  return url.toString()
}

export function stackEnv (): StackEnv {
  const env = process.env
  return {
    mqttUrl: `mqtt://${env.MQTT_BROKER ?? '127.0.0.1'}:${env.MQTT_PORT ?? 1883 + offset()}`,
    kafkaBootstrap: env.KAFKA_BOOTSTRAP_SERVERS ?? `127.0.0.1:${9092 + offset()}`,
    registryUrl: pgUrl('POSTGRES', 'registry', { port: 5432, db: 'device_params' }),
    timeseriesUrl: pgUrl('TIMESCALE', 'timeseries', { port: 5433, db: 'timeseries' }),
    prometheusUrl: env.PROMETHEUS_URL ?? `http://127.0.0.1:${9090 + offset()}`
  }
}

/** A name no other test run uses: `<prefix>_<time>_<random>`, lower case, safe as a topic or SQL identifier. */
export function uniqueName (prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`.toLowerCase()
}

export function uniqueTopicName (prefix: string): string {
  return uniqueName(prefix.replace(/[^a-zA-Z0-9._-]/g, '_'))
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
  const admin = postgres(base, { max: 1, onnotice: () => {} })
  try {
    await admin.unsafe(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(base)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    name,
    async drop () {
      const sql = postgres(base, { max: 1, onnotice: () => {} })
      try {
        // FORCE ends the owner's leftover sessions; a service role's session (a sink or fleet
        // stage a test stopped a moment ago) may only be ended by itself, so wait for it.
        for (let attempt = 0; ; attempt++) {
          try {
            await sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
            break
          } catch (err) {
            if ((err as { code?: string }).code !== '42501' || attempt >= 50) throw err
            await new Promise(resolve => setTimeout(resolve, 200))
          }
        }
      } finally {
        await sql.end()
      }
    }
  }
}

export function kafkaAdmin (clientId = 'f2-test-admin'): Admin {
  return new Admin({ clientId, bootstrapBrokers: stackEnv().kafkaBootstrap.split(',') })
}

export interface TempTopics {
  names: string[]
  delete: () => Promise<void>
}

/** Creates `names` with `partitions` partitions each (one replica) and waits until every partition has a leader. */
export async function createTempTopics (names: string[], partitions = 1): Promise<TempTopics> {
  const admin = kafkaAdmin()
  try {
    await admin.createTopics({ topics: names, partitions, replicas: 1 })
    const until = Date.now() + 15_000
    for (;;) {
      const meta = await admin.metadata({ topics: names, forceUpdate: true })
      const ready = names.every(n => {
        const t = meta.topics.get(n)
        return t !== undefined && t.partitionsCount === partitions && t.partitions.every(p => p.leader >= 0)
      })
      if (ready) break
      if (Date.now() > until) throw new Error(`topics ${names.join(', ')} have no leaders after 15 s`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  } finally {
    await admin.close()
  }
  return {
    names,
    async delete () {
      const a = kafkaAdmin()
      try {
        await a.deleteTopics({ topics: names })
      } finally {
        await a.close()
      }
    }
  }
}
