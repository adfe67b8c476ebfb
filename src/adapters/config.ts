import { z } from 'zod'
import { ErrorCodes, F2Error } from '../core/errors.ts'

/**
 * Config is read from the environment once, at start-up, validated against one schema per
 * service, and frozen. Every problem is reported together so an operator fixes them in one go.
 * Variable names follow the seed (MQTT_BROKER, KAFKA_BOOTSTRAP_SERVERS, POSTGRES_*, ...).
 */
export type Env = Record<string, string | undefined>

export function loadConfig<S extends z.ZodType> (service: string, schema: S, env: Env = process.env): Readonly<z.output<S>> {
  // Empty strings mean "not set": compose files often pass `VAR=` for optional settings.
  const cleaned: Env = {}
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') cleaned[key] = value
  }
  const parsed = schema.safeParse(cleaned)
  if (!parsed.success) {
    const problems = parsed.error.issues.map(issue => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    throw new F2Error(ErrorCodes.CONFIG_INVALID, `invalid ${service} configuration:\n  ${problems.join('\n  ')}`, {
      details: { service, problems }
    })
  }
  return deepFreeze(parsed.data)
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner)
    Object.freeze(value)
  }
  return value
}

/** A copy safe to log: values of keys that look secret are masked. */
export function redact (config: object): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(config)) {
    if (/password|secret|token/i.test(key)) out[key] = '***'
    else if (typeof value === 'string' && /:\/\/[^/]*:[^@/]*@/.test(value)) out[key] = value.replace(/(:\/\/[^:/]*):[^@/]*@/, '$1:***@')
    else if (value !== null && typeof value === 'object' && !Array.isArray(value)) out[key] = redact(value)
    else out[key] = value
  }
  return out
}

// Field builders: strict (no silent coercion of garbage), with defaults.

export const env = {
  string: (fallback?: string) => fallback === undefined ? z.string() : z.string().default(fallback),
  int: (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    z.string().regex(/^-?\d+$/, 'expected an integer').transform(Number)
      .pipe(z.number().int().min(min).max(max)).default(fallback),
  number: (fallback: number, min = 0) =>
    z.string().regex(/^-?\d+(\.\d+)?$/, 'expected a number').transform(Number).pipe(z.number().min(min)).default(fallback),
  bool: (fallback: boolean) =>
    z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']).transform(v => ['true', '1', 'yes', 'on'].includes(v)).default(fallback),
  list: (fallback: string[]) =>
    z.string().transform(v => v.split(',').map(s => s.trim()).filter(s => s.length > 0)).default(fallback),
  oneOf: <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) => z.enum(values).default(fallback as never)
}

/** Kafka bootstrap list: `host:port[,host:port]`, the seed's KAFKA_BOOTSTRAP_SERVERS. */
export const kafkaBrokers = (fallback = '127.0.0.1:9092') =>
  z.string().transform(v => v.split(',').map(s => s.trim()).filter(s => s.length > 0))
    .pipe(z.array(z.string().regex(/^[^:\s]+:\d+$/, 'expected host:port')).min(1)).default([fallback])

export interface PostgresConnection { host: string, port: number, database: string, user: string, password: string }

/** Where a database is and as whom to log in: everything but the password has a default. */
export type PostgresDefaults = Omit<PostgresConnection, 'password'>

/**
 * The seed's `<PREFIX>_HOST/PORT/DB/USER/PASSWORD` group. The password has no default: a
 * service started without one fails at start-up (F2_CONFIG_INVALID) instead of trying a
 * well-known password.
 */
export function postgresFields (prefix: string, defaults: PostgresDefaults) {
  return {
    [`${prefix}_HOST`]: env.string(defaults.host),
    [`${prefix}_PORT`]: env.int(defaults.port, 1, 65535),
    [`${prefix}_DB`]: env.string(defaults.database),
    [`${prefix}_USER`]: env.string(defaults.user),
    [`${prefix}_PASSWORD`]: z.string({
      error: `required: the password of ${prefix}_USER (there is no default; see docs/operations/deployment-security.md)`
    })
  }
}

export function pickPostgres (prefix: string, values: Record<string, unknown>): PostgresConnection {
  return {
    host: values[`${prefix}_HOST`] as string,
    port: values[`${prefix}_PORT`] as number,
    database: values[`${prefix}_DB`] as string,
    user: values[`${prefix}_USER`] as string,
    password: values[`${prefix}_PASSWORD`] as string
  }
}

/** Where the native stack's databases are; each service adds the role it logs in as. */
export const REGISTRY_DEFAULTS = { host: '127.0.0.1', port: 5432, database: 'device_params' } as const
export const TIMESERIES_DEFAULTS = { host: '127.0.0.1', port: 5433, database: 'timeseries' } as const

/** The inverse of `postgresFields`: a connection URL as the seed's `<PREFIX>_*` variables. */
export function postgresEnv (prefix: 'POSTGRES' | 'TIMESCALE', url: string): Record<string, string> {
  const u = new URL(url)
  return {
    [`${prefix}_HOST`]: u.hostname,
    [`${prefix}_PORT`]: u.port,
    [`${prefix}_DB`]: u.pathname.slice(1),
    [`${prefix}_USER`]: decodeURIComponent(u.username),
    [`${prefix}_PASSWORD`]: decodeURIComponent(u.password)
  }
}
