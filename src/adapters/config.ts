import { z } from 'zod'
import { ErrorCodes, F2Error } from '../core/errors.ts'

/**
 * Config is read from the environment once, at start-up, validated against one schema per
 * service, and frozen. Every problem is reported together so an operator fixes them in one go.
 * Variable names follow the seed (MQTT_BROKER, KAFKA_BOOTSTRAP_SERVERS, POSTGRES_*, ...).
 */
export type Env = Record<string, string | undefined>

/**
 * An older name of a setting, still accepted (the seed's `BATCH_SIZE`, compose files that
 * use it). `convert` turns its value into the current setting's unit (undefined: not a
 * valid value), e.g. seconds into milliseconds.
 */
export interface Alias {
  alias: string
  name: string
  convert?: (value: string) => string | undefined
}

/** `BATCH_TIMEOUT=0.25` (seconds, fractions allowed) as `250` (milliseconds). */
export const secondsToMs = (value: string): string | undefined =>
  /^\d+(\.\d+)?$/.test(value) ? String(Math.round(Number(value) * 1000)) : undefined

/**
 * Rewrites aliases to their current names. Setting both an alias and its current name to
 * different values is a problem (which one was meant is not ours to guess).
 */
export function applyAliases (env: Env, aliases: readonly Alias[]): { env: Env, problems: string[] } {
  const out: Env = { ...env }
  const problems: string[] = []
  for (const { alias, name, convert } of aliases) {
    const raw = env[alias]
    if (raw === undefined) continue
    delete out[alias]
    const value = convert === undefined ? raw : convert(raw)
    if (value === undefined) {
      problems.push(`${alias}: invalid value ${JSON.stringify(raw)} (an older name of ${name})`)
    } else if (env[name] !== undefined && env[name] !== value) {
      problems.push(`${alias}: conflicts with ${name} (${alias} is an older name of ${name}; set only one)`)
    } else {
      out[name] = value
    }
  }
  return { env: out, problems }
}

export function loadConfig<S extends z.ZodType> (service: string, schema: S, env: Env = process.env, aliases: readonly Alias[] = []): Readonly<z.output<S>> {
  // Empty strings mean "not set": compose files often pass `VAR=` for optional settings.
  const cleaned: Env = {}
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') cleaned[key] = value
  }
  const renamed = applyAliases(cleaned, aliases)
  const parsed = schema.safeParse(renamed.env)
  if (!parsed.success || renamed.problems.length > 0) {
    const problems = [...renamed.problems, ...(parsed.success ? [] : parsed.error.issues.map(issue => `${issue.path.join('.') || '(root)'}: ${issue.message}`))]
    throw new F2Error(ErrorCodes.CONFIG_INVALID, `invalid ${service} configuration:\n  ${problems.join('\n  ')}`, {
      details: { service, problems }
    })
  }
  return deepFreeze(parsed.data as z.output<S>)
}

/**
 * A service's config loader: `schema` read from the environment once (with `aliases`, every
 * problem reported together), then `build` turns the values into the service's settings, frozen.
 * The settings' type is the loader's return type: each setting is named once, where it is built.
 */
export function configLoader<S extends z.ZodType, C extends object> (service: string, schema: S, build: (values: Readonly<z.output<S>>) => C, aliases: readonly Alias[] = []): (source?: Env) => Readonly<C> {
  return (source = process.env) => Object.freeze(build(loadConfig(service, schema, source, aliases)))
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

/**
 * A service's own HTTP listener (metrics, health, its API): loopback unless HTTP_HOST says
 * otherwise (the image sets 0.0.0.0 inside its container), on HTTP_PORT (`port` unless set).
 */
export function httpFields (port: number) {
  return { HTTP_HOST: env.string('127.0.0.1'), HTTP_PORT: env.int(port, 0, 65535) }
}

/** The listener from values parsed with `httpFields`. */
export function pickHttp (values: { HTTP_HOST: string, HTTP_PORT: number }): { httpHost: string, httpPort: number } {
  return { httpHost: values.HTTP_HOST, httpPort: values.HTTP_PORT }
}

// Field builders: strict (no silent coercion of garbage), with defaults.

export const env = {
  string: (fallback?: string) => fallback === undefined ? z.string() : z.string().default(fallback),
  int: (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
    z.string().regex(/^-?\d+$/, 'expected an integer').transform(Number)
      .pipe(z.number().int().min(min).max(max)).default(fallback),
  number: (fallback: number, min = 0) =>
    z.string().regex(/^-?\d+(\.\d+)?$/, 'expected a number').transform(Number).pipe(z.number().min(min)).default(fallback),
  /** A TCP port with no fixed default: the caller derives it (src/adapters/connections/stack-ports.ts). */
  port: () => z.string().regex(/^\d+$/, 'expected a port number').transform(Number).pipe(z.number().int().min(1).max(65535)).optional(),
  bool: (fallback: boolean) =>
    z.enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off']).transform(v => ['true', '1', 'yes', 'on'].includes(v)).default(fallback),
  list: (fallback: string[]) =>
    z.string().transform(v => v.split(',').map(s => s.trim()).filter(s => s.length > 0)).default(fallback),
  oneOf: <const T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) => z.enum(values).default(fallback as never)
}
