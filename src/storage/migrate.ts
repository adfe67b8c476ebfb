import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type postgres from 'postgres'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import { connect, describeTarget, type PgTarget } from './connection.ts'
import { describePgError, isUnavailableError } from './pg-errors.ts'
import { isPostgresSql, postgresRunner, type QueryRunner } from './query-runner.ts'
import { grantsSql } from './roles.ts'

export type MigrationTarget = 'registry' | 'timeseries'
export type TimeseriesVariant = 'timescale' | 'plain'

/**
 * Time-series tuning read by the TimescaleDB migrations (as session settings f2.*) when
 * they are applied. Values are PostgreSQL intervals ('7 days'); 'off' disables a policy.
 */
export interface TimeseriesSettings {
  chunkTimeInterval?: string
  compressAfter?: string
  retainFor?: string
  hourlyRefreshStartOffset?: string
  hourlyRefreshInterval?: string
}

const SETTING_NAMES: Record<keyof TimeseriesSettings, string> = {
  chunkTimeInterval: 'f2.chunk_time_interval',
  compressAfter: 'f2.compress_after',
  retainFor: 'f2.retain_for',
  hourlyRefreshStartOffset: 'f2.hourly_refresh_start_offset',
  hourlyRefreshInterval: 'f2.hourly_refresh_interval'
}

/** Structural subset of a pino logger. */
export interface MigrateLogger {
  info: (obj: Record<string, unknown>, msg: string) => void
  warn: (obj: Record<string, unknown>, msg: string) => void
}

export interface MigrateOptions {
  /**
   * Time-series only. 'auto' (default): the variant already recorded in schema_migrations,
   * else 'timescale' when the extension is installed or can be created, else 'plain'.
   */
  variant?: 'auto' | TimeseriesVariant
  settings?: TimeseriesSettings
  /** Root holding registry/ and timeseries/ (default: the repository's sql/). */
  sqlDir?: string
  logger?: MigrateLogger
}

export interface MigrationFile {
  version: number
  name: string
  /** null = applies to every variant. */
  variant: TimeseriesVariant | null
  path: string
  sql: string
  checksum: string
  /** First line `-- migrate:no-transaction`: run outside BEGIN/COMMIT. */
  transactional: boolean
}

export interface Migration {
  version: number
  name: string
  files: MigrationFile[]
}

export interface MigrateReport {
  target: MigrationTarget
  variant: TimeseriesVariant | null
  applied: Array<{ version: number; name: string }>
  alreadyApplied: number
}

const DEFAULT_SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url))
const FILE_RE = /^(\d{3,})_([a-z0-9_]+?)(?:\.(timescale|plain))?\.sql$/
/** A whole line `-- migrate:include name.sql`: the text of `<target>/include/name.sql` stands there. */
const INCLUDE_RE = /^--[ \t]*migrate:include[ \t]+(\S*)[ \t]*$/gm
const INCLUDE_NAME_RE = /^[a-z0-9_]+\.sql$/

function invalidSet (message: string, details: Record<string, unknown>): F2Error {
  return new F2Error(ErrorCodes.MIGRATION_FAILED, message, { details })
}

/**
 * Reads `<sqlDir>/<target>/NNN_name[.timescale|.plain].sql`. A version has one common
 * file or one file per variant (both). Throws F2_MIGRATION_FAILED for a malformed set.
 */
export function loadMigrations (target: MigrationTarget, sqlDir: string = DEFAULT_SQL_DIR): Migration[] {
  const dir = join(sqlDir, target)
  const byVersion = new Map<number, Migration>()
  for (const entry of readdirSync(dir).sort()) {
    if (!entry.endsWith('.sql')) continue
    const m = FILE_RE.exec(entry)
    if (m === null) throw invalidSet(`migration file name not NNN_name[.timescale|.plain].sql: ${entry}`, { dir, entry })
    const version = Number(m[1])
    const name = m[2] as string
    const variant = (m[3] ?? null) as TimeseriesVariant | null
    if (variant !== null && target !== 'timeseries') throw invalidSet(`variant files exist only for timeseries: ${entry}`, { dir, entry })
    const path = join(dir, entry)
    const sql = expandIncludes(readText(path), dir, entry)
    const file: MigrationFile = {
      version, name, variant, path, sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
      transactional: !/^--\s*migrate:no-transaction\b/.test(sql)
    }
    const existing = byVersion.get(version)
    if (existing === undefined) byVersion.set(version, { version, name, files: [file] })
    else if (existing.name !== name) throw invalidSet(`two names for migration ${version}: ${existing.name}, ${name}`, { dir, version })
    else existing.files.push(file)
  }
  const migrations = [...byVersion.values()].sort((a, b) => a.version - b.version)
  for (const mig of migrations) {
    const variants = mig.files.map(f => f.variant)
    const ok = (variants.length === 1 && variants[0] === null) ||
      (variants.length === 2 && variants.includes('timescale') && variants.includes('plain'))
    if (!ok) throw invalidSet(`migration ${mig.version}_${mig.name} needs one common file or both .timescale and .plain`, { dir, version: mig.version })
  }
  return migrations
}

function readText (path: string): string {
  return readFileSync(path, 'utf8').replace(/\r\n/g, '\n')
}

/**
 * Replaces each `-- migrate:include name.sql` line of `entry` with the text of
 * `<dir>/include/name.sql` (which ends with its own newline), so text that several migrations
 * share (the variants of one version) is written once. The checksum is taken of the expanded
 * text: a migration's recorded checksum stays valid when its text moves into a fragment
 * unchanged, and editing a fragment is a change to every applied migration that includes it
 * (F2_MIGRATION_CHECKSUM_MISMATCH). A fragment includes nothing itself.
 */
function expandIncludes (sql: string, dir: string, entry: string): string {
  return sql.replace(INCLUDE_RE, (_line, name: string) => {
    if (!INCLUDE_NAME_RE.test(name)) throw invalidSet(`${entry}: include name not name.sql: ${JSON.stringify(name)}`, { dir, entry, include: name })
    let text: string
    try {
      text = readText(join(dir, 'include', name))
    } catch (err) {
      throw new F2Error(ErrorCodes.MIGRATION_FAILED, `${entry}: cannot read include/${name}`, { cause: err, details: { dir, entry, include: name } })
    }
    if (new RegExp(INCLUDE_RE.source, 'm').test(text)) throw invalidSet(`include/${name} includes another file (one level only)`, { dir, entry, include: name })
    return text.endsWith('\n') ? text.slice(0, -1) : text
  })
}

/** The file of `mig` for `variant` (the common file when there is one). */
export function fileFor (mig: Migration, variant: TimeseriesVariant | null): MigrationFile {
  const file = mig.files.find(f => f.variant === null) ?? mig.files.find(f => f.variant === variant)
  if (file === undefined) throw invalidSet(`migration ${mig.version}_${mig.name} has no file for variant ${String(variant)}`, { version: mig.version })
  return file
}

type AppliedRow = { version: number; name: string; checksum: string; variant: string | null }

async function detectVariant (r: QueryRunner, wanted: 'auto' | TimeseriesVariant, recorded: AppliedRow[], logger?: MigrateLogger): Promise<TimeseriesVariant> {
  const previous = recorded.find(row => row.variant === 'timescale' || row.variant === 'plain')?.variant as TimeseriesVariant | undefined
  if (wanted === 'auto' && previous !== undefined) return previous
  if (wanted === 'plain') return 'plain'
  const installed = await r.query("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
  if (installed.length > 0) return 'timescale'
  const available = await r.query("SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'")
  if (available.length > 0) {
    try {
      await r.exec('CREATE EXTENSION IF NOT EXISTS timescaledb')
      return 'timescale'
    } catch (err) {
      if (wanted === 'timescale') throw new F2Error(ErrorCodes.MIGRATION_FAILED, `cannot create extension timescaledb: ${describePgError(err)}`, { cause: err })
      logger?.warn({ err: describePgError(err) }, 'timescaledb is available but cannot be created; using plain PostgreSQL')
      return 'plain'
    }
  }
  if (wanted === 'timescale') throw new F2Error(ErrorCodes.MIGRATION_FAILED, 'timescaledb is not available on this server')
  return 'plain'
}

async function applyFile (r: QueryRunner, target: MigrationTarget, file: MigrationFile): Promise<void> {
  const record = async (): Promise<void> => {
    await r.query(
      'INSERT INTO schema_migrations (target, version, name, checksum, variant) VALUES ($1, $2, $3, $4, $5)',
      [target, file.version, file.name, file.checksum, file.variant])
  }
  if (!file.transactional) {
    await r.exec(file.sql)
    await record()
    return
  }
  await r.exec('BEGIN')
  try {
    await r.exec(file.sql)
    await record()
    await r.exec('COMMIT')
  } catch (err) {
    await r.exec('ROLLBACK').catch(() => {})
    throw err
  }
}

async function migrateWith (r: QueryRunner, target: MigrationTarget, opts: MigrateOptions): Promise<MigrateReport> {
  const migrations = loadMigrations(target, opts.sqlDir)
  // Notices ("relation already exists, skipping") are expected on re-runs; keep warnings.
  await r.exec('SET client_min_messages = warning')
  await r.query('SELECT pg_advisory_lock(hashtext($1))', [`f2:migrate:${target}`])
  try {
    await r.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      target text NOT NULL,
      version integer NOT NULL,
      name text NOT NULL,
      checksum text NOT NULL,
      variant text,
      applied_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (target, version))`)
    const recorded = await r.query<AppliedRow>(
      'SELECT version, name, checksum, variant FROM schema_migrations WHERE target = $1 ORDER BY version', [target])
    const variant = target === 'timeseries' ? await detectVariant(r, opts.variant ?? 'auto', recorded, opts.logger) : null
    if (target === 'timeseries') {
      for (const [key, setting] of Object.entries(SETTING_NAMES)) {
        const value = opts.settings?.[key as keyof TimeseriesSettings]
        if (value !== undefined) await r.query('SELECT set_config($1, $2, false)', [setting, value])
      }
    }
    const applied = new Map(recorded.map(row => [Number(row.version), row]))
    const report: MigrateReport = { target, variant, applied: [], alreadyApplied: 0 }
    for (const mig of migrations) {
      const file = fileFor(mig, variant)
      const done = applied.get(mig.version)
      if (done !== undefined) {
        if (done.checksum !== file.checksum) {
          throw new F2Error(ErrorCodes.MIGRATION_CHECKSUM_MISMATCH,
            `migration ${target}/${mig.version}_${mig.name} was applied with a different content` +
            (done.variant !== file.variant ? ` (applied variant ${String(done.variant)}, now ${String(file.variant)})` : ''),
            { details: { target, version: mig.version, applied: done.checksum, file: file.checksum, path: file.path } })
        }
        report.alreadyApplied++
        continue
      }
      try {
        await applyFile(r, target, file)
      } catch (err) {
        if (err instanceof F2Error) throw err
        throw new F2Error(ErrorCodes.MIGRATION_FAILED, `migration ${target}/${mig.version}_${mig.name} failed: ${describePgError(err)}`,
          { cause: err, retryable: isUnavailableError(err), details: { target, version: mig.version, path: file.path } })
      }
      report.applied.push({ version: mig.version, name: mig.name })
      opts.logger?.info({ target, version: mig.version, name: mig.name, variant }, 'migration applied')
    }
    try {
      await r.exec(grantsSql(target))
    } catch (err) {
      throw new F2Error(ErrorCodes.MIGRATION_FAILED, `${target} grants failed: ${describePgError(err)}`,
        { cause: err, retryable: isUnavailableError(err), details: { target } })
    }
    return report
  } finally {
    await r.query('SELECT pg_advisory_unlock(hashtext($1))', [`f2:migrate:${target}`]).catch(() => {})
  }
}

/**
 * Brings `target`'s schema up to date: applies pending migrations in version order, each
 * in its own transaction with its schema_migrations row; an applied version whose file
 * changed is F2_MIGRATION_CHECKSUM_MISMATCH (nothing after it runs). Concurrent runners
 * are serialised by an advisory lock. Every run ends by re-applying the service roles'
 * grants (src/storage/roles.ts). With a postgres.js pool one connection is reserved
 * for the whole run. Unreachable database → F2_DB_UNAVAILABLE (retryable).
 */
export async function migrate (db: postgres.Sql | QueryRunner, target: MigrationTarget, opts: MigrateOptions = {}): Promise<MigrateReport> {
  if (!isPostgresSql(db)) return await migrateWith(db, target, opts)
  let conn: postgres.ReservedSql
  try {
    conn = await db.reserve()
  } catch (err) {
    throw new F2Error(ErrorCodes.DB_UNAVAILABLE, `cannot connect for ${target} migrations: ${describePgError(err)}`, { cause: err, retryable: true })
  }
  try {
    return await migrateWith(postgresRunner(conn), target, opts)
  } catch (err) {
    if (err instanceof F2Error) throw err
    if (isUnavailableError(err)) throw new F2Error(ErrorCodes.DB_UNAVAILABLE, `${target} migrations: ${describePgError(err)}`, { cause: err, retryable: true })
    throw new F2Error(ErrorCodes.MIGRATION_FAILED, `${target} migrations: ${describePgError(err)}`, { cause: err })
  } finally {
    conn.release()
  }
}

export interface MigrateAllConfig {
  registry: PgTarget
  timeseries: PgTarget
  variant?: 'auto' | TimeseriesVariant
  settings?: TimeseriesSettings
  sqlDir?: string
  logger?: MigrateLogger
}

/** Start-up entry: registry migrations on the registry database, then time-series migrations on the time-series database. */
export async function migrateAll (config: MigrateAllConfig): Promise<{ registry: MigrateReport; timeseries: MigrateReport }> {
  const opts = (): MigrateOptions => ({
    ...(config.variant === undefined ? {} : { variant: config.variant }),
    ...(config.settings === undefined ? {} : { settings: config.settings }),
    ...(config.sqlDir === undefined ? {} : { sqlDir: config.sqlDir }),
    ...(config.logger === undefined ? {} : { logger: config.logger })
  })
  const run = async (target: MigrationTarget, where: PgTarget): Promise<MigrateReport> => {
    const sql = connect(where, { max: 1, connect_timeout: 10, connection: { application_name: `f2-migrate-${target}` } })
    try {
      return await migrate(sql, target, opts())
    } catch (err) {
      if (!(err instanceof F2Error)) throw err
      throw new F2Error(err.code, `${err.message} (${describeTarget(where)})`,
        { cause: err, retryable: err.retryable, details: { ...err.details, database: describeTarget(where) } })
    } finally {
      await sql.end({ timeout: 5 })
    }
  }
  const registry = await run('registry', config.registry)
  const timeseries = await run('timeseries', config.timeseries)
  return { registry, timeseries }
}
