import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import type { Component, StackContext } from './component.ts'
import type { DatabaseConfig, StackConfig } from './config.ts'
import { canTraverse, isRoot, ownedDir, systemUser, type SystemUser } from './users.ts'
import { waitUntil } from './wait.ts'

export const pgBin = '/usr/lib/postgresql/15/bin'

/**
 * PostgreSQL refuses to run as root, so as root we run it as the `postgres` system user.
 * Its data must then live where that user can reach it: under .stack/data when every parent
 * directory is traversable, otherwise under a private directory in /var/lib.
 */
function pgUser (): SystemUser | undefined {
  if (!isRoot()) return undefined
  const user = systemUser('postgres')
  if (user === undefined) throw new F2Error(ErrorCodes.STACK_START_FAILED, 'the `postgres` system user is missing; it comes with the postgresql-15 package')
  return user
}

export function postgresRoot (ctx: StackContext): string {
  const user = pgUser()
  const preferred = join(ctx.paths.dataDir, 'postgres')
  return user === undefined || canTraverse(join(preferred, 'x'), user) ? preferred : join(ctx.paths.systemDataDir, 'postgres')
}

function runAs (user: SystemUser | undefined, cmd: string, args: string[], input?: string): string {
  const out = spawnSync(cmd, args, {
    encoding: 'utf8',
    input,
    cwd: '/',
    ...(user === undefined ? {} : { uid: user.uid, gid: user.gid })
  })
  if (out.status !== 0) {
    throw new F2Error(ErrorCodes.STACK_START_FAILED, `${cmd} ${args.join(' ')} failed: ${out.stderr || out.error?.message || `exit ${out.status}`}`)
  }
  return out.stdout
}

/**
 * SQL, run as the superuser, that creates (or realigns) the database's roles and the database
 * itself; safe to run every time. Passwords are set on every run, so a role that still had
 * an old password (the fixed ones of earlier versions included) only takes the generated one.
 * The owner owns the database (and, PostgreSQL 15, its public schema) and may create test
 * databases; the service roles get nothing here beyond LOGIN: their rights on the database
 * and its tables are granted by the owner after every migration run (src/storage/roles.ts).
 * The reader is also the exporter's role: pg_monitor lets it read the server's statistics.
 */
export function bootstrapSql (db: DatabaseConfig): string {
  const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`
  const roles = Object.entries(db.roles).map(([key, role]) => {
    const attrs = key === 'owner' ? 'LOGIN CREATEDB' : 'LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER'
    return `  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = ${quote(role.user)}) THEN
    CREATE ROLE "${role.user}" ${attrs} PASSWORD ${quote(role.password)};
  ELSE
    ALTER ROLE "${role.user}" ${attrs} PASSWORD ${quote(role.password)};
  END IF;`
  }).join('\n')
  const reader = db.roles.reader
  return `
DO $$ BEGIN
${roles}
END $$;
SELECT 'CREATE DATABASE ${db.database} OWNER ${db.user}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '${db.database}')
\\gexec
ALTER DATABASE ${db.database} OWNER TO "${db.user}";
REVOKE pg_monitor FROM "${db.user}";
${reader === undefined ? '' : `GRANT pg_monitor TO "${reader.user}";`}
`
}

export function postgresComponent (name: string, pick: (cfg: StackConfig) => DatabaseConfig): Component {
  const dirs = (ctx: StackContext): { data: string, socket: string } => {
    const root = postgresRoot(ctx)
    return { data: join(root, name), socket: join(root, `${name}.sock`) }
  }
  return {
    name,
    ports: cfg => [pick(cfg).port],
    async prepare (ctx) {
      const db = pick(ctx.cfg)
      const user = pgUser()
      const { data, socket } = dirs(ctx)
      ownedDir(join(data, '..'), undefined, 0o755)
      ownedDir(socket, user)
      if (!existsSync(join(data, 'PG_VERSION'))) {
        ownedDir(data, user)
        ctx.logger.info({ process: name, data }, 'initialising PostgreSQL cluster')
        // Local (socket) connections trust the OS user; the socket directory is private to it.
        runAs(user, join(pgBin, 'initdb'), ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--no-locale',
          '--auth-local=trust', '--auth-host=scram-sha-256', '--no-instructions'])
        writeFileSync(join(ctx.paths.runDir, `${name}.initialised`), new Date().toISOString())
      }
      return {
        name,
        command: join(pgBin, 'postgres'),
        args: ['-D', data, '-p', String(db.port), '-k', socket,
          '-c', 'listen_addresses=127.0.0.1',
          '-c', 'max_connections=200',
          '-c', 'shared_buffers=128MB',
          '-c', 'log_line_prefix=%m [%p] %q%u@%d ',
          '-c', 'log_min_duration_statement=2000'],
        cwd: '/',
        ...(user === undefined ? {} : { user: { uid: user.uid, gid: user.gid } }),
        stopSignal: 'SIGINT',
        logFile: join(ctx.paths.logsDir, `${name}.log`),
        ready: signal => waitUntil(`${name} to accept connections`, async () => {
          const out = spawnSync(join(pgBin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(db.port)])
          return out.status === 0
        }, { timeoutMs: 60_000, intervalMs: 200, signal })
      }
    },
    async afterReady (ctx) {
      const db = pick(ctx.cfg)
      const { socket } = dirs(ctx)
      runAs(pgUser(), join(pgBin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', socket, '-p', String(db.port), '-U', 'postgres', '-d', 'postgres'], bootstrapSql(db))
    }
  }
}

export const registryPostgres = (): Component => postgresComponent('postgres-registry', cfg => cfg.registry)
export const timeseriesPostgres = (): Component => postgresComponent('postgres-timeseries', cfg => cfg.timeseries)
