import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/adapters/logger.ts'
import { databaseUrl, roleEnv, serviceEnv, stackConfig, stackPaths, type StackPaths } from '../../src/stack/config.ts'
import { serviceSpec } from '../../src/stack/owner.ts'
import { bootstrapSql } from '../../src/stack/postgres.ts'
import { readStackSecret, secretsDir } from '../../src/stack/secrets.ts'
import { services } from '../../src/stack/services.ts'
import { DB_ROLES, grantsSql } from '../../src/storage/roles.ts'

let root: string | undefined
afterEach(() => { if (root !== undefined) rmSync(root, { recursive: true, force: true }) })

function freshPaths (): StackPaths {
  root = mkdtempSync(join(tmpdir(), 'f2-credentials-'))
  return stackPaths(root)
}

const SEED_PASSWORDS = ['iot_password', 'ts_password']

describe('the stack\'s database credentials', () => {
  it('are generated per checkout, one secret per role, kept private under .stack/secrets', () => {
    const paths = freshPaths()
    const cfg = stackConfig({}, paths)
    const all = [...Object.values(cfg.registry.roles), ...Object.values(cfg.timeseries.roles)]
    expect(all.map(r => r.user).sort()).toEqual([...Object.values(DB_ROLES.registry), ...Object.values(DB_ROLES.timeseries)].sort())
    for (const role of all) {
      expect(role.password).toMatch(/^[A-Za-z0-9_-]{32}$/)
      expect(SEED_PASSWORDS).not.toContain(role.password)
    }
    expect(new Set(all.map(r => r.password)).size).toBe(all.length)
    expect(readdirSync(secretsDir(paths)).sort()).toEqual(['registry-api', 'registry-dispatcher', 'registry-owner', 'registry-processor', 'registry-reader', 'timeseries-fleet', 'timeseries-owner', 'timeseries-reader', 'timeseries-sink'])
    expect(statSync(join(secretsDir(paths), 'registry-owner')).mode & 0o777).toBe(0o600)
    // The owner is the database's `user`, the one migrations run as.
    expect([cfg.registry.user, cfg.registry.password]).toEqual([cfg.registry.roles.owner.user, cfg.registry.roles.owner.password])
    expect(readStackSecret(paths, 'timeseries-sink')).toBe(cfg.timeseries.roles.sink.password)
  })

  it('stay the same from one run to the next, and differ between checkouts', () => {
    const paths = freshPaths()
    const first = stackConfig({}, paths)
    expect(stackConfig({}, paths).timeseries.roles.sink).toEqual(first.timeseries.roles.sink)
    const other = mkdtempSync(join(tmpdir(), 'f2-credentials-'))
    try {
      expect(stackConfig({}, stackPaths(other)).timeseries.roles.sink.password).not.toBe(first.timeseries.roles.sink.password)
    } finally {
      rmSync(other, { recursive: true, force: true })
    }
  })

  it('reading a secret never creates one', () => {
    const paths = freshPaths()
    expect(readStackSecret(paths, 'registry-owner')).toBeUndefined()
    expect(() => readdirSync(secretsDir(paths))).toThrow(/ENOENT/)
  })

  it('the shared service environment holds no credentials; each service gets only its own roles', () => {
    const paths = freshPaths()
    const cfg = stackConfig({}, paths)
    expect(Object.keys(serviceEnv(cfg)).filter(k => /USER|PASSWORD/.test(k))).toEqual([])
    const ctx = { cfg, paths, logger: createLogger('test', 'silent') }
    const envOf = (name: string): Record<string, string> => {
      const def = services.find(s => s.name === name)
      if (def === undefined) throw new Error(`no service ${name}`)
      return serviceSpec(ctx, def).env ?? {}
    }
    const creds = (env: Record<string, string>): Record<string, string> =>
      Object.fromEntries(Object.entries(env).filter(([k]) => /^(POSTGRES|TIMESCALE)_(USER|PASSWORD)$/.test(k)))
    expect(creds(envOf('processor'))).toEqual({ POSTGRES_USER: 'iot_processor', POSTGRES_PASSWORD: cfg.registry.roles.processor.password })
    expect(creds(envOf('sink'))).toEqual({ TIMESCALE_USER: 'ts_sink', TIMESCALE_PASSWORD: cfg.timeseries.roles.sink.password })
    expect(creds(envOf('health'))).toEqual({
      POSTGRES_USER: 'iot_reader', POSTGRES_PASSWORD: cfg.registry.roles.reader.password,
      TIMESCALE_USER: 'ts_reader', TIMESCALE_PASSWORD: cfg.timeseries.roles.reader.password
    })
    expect(creds(envOf('connector'))).toEqual({})
    expect(roleEnv(cfg, { timeseries: 'owner' })).toEqual({ TIMESCALE_USER: 'ts_user', TIMESCALE_PASSWORD: cfg.timeseries.password })
    // No service of the supervisor logs in as an owner.
    for (const def of services) {
      const env = serviceSpec(ctx, def).env ?? {}
      expect([env.POSTGRES_USER, env.TIMESCALE_USER], def.name).not.toContain('iot_user')
      expect([env.POSTGRES_USER, env.TIMESCALE_USER], def.name).not.toContain('ts_user')
    }
  })

  it('URLs escape what a password could hold', () => {
    const url = databaseUrl({ port: 1, database: 'd', user: 'u', password: 'p', roles: {} }, { user: 'r', password: 'a/b@c:d' })
    expect(new URL(url).password).toBe(encodeURIComponent('a/b@c:d'))
    expect(decodeURIComponent(new URL(url).password)).toBe('a/b@c:d')
  })
})

describe('bootstrapSql', () => {
  const cfg = (): ReturnType<typeof stackConfig> => stackConfig({}, freshPaths())

  it('creates or realigns every role with its generated password, and only the owner may create databases', () => {
    const c = cfg()
    const sql = bootstrapSql(c.registry)
    for (const role of Object.values(c.registry.roles)) expect(sql).toContain(`PASSWORD '${role.password}'`)
    expect(sql).toContain('CREATE ROLE "iot_user" LOGIN CREATEDB PASSWORD')
    expect(sql).toContain('ALTER ROLE "iot_processor" LOGIN NOCREATEDB NOCREATEROLE NOSUPERUSER PASSWORD')
    expect(sql).toContain('ALTER DATABASE device_params OWNER TO "iot_user"')
    expect(sql).toContain('GRANT pg_monitor TO "iot_reader"')
    expect(sql).toContain('REVOKE pg_monitor FROM "iot_user"')
    for (const pw of SEED_PASSWORDS) expect(sql).not.toContain(pw)
  })
})

describe('grantsSql', () => {
  it('registry: the processor, the reader and the API may connect and SELECT; the API stamps a token\'s last use; PUBLIC keeps nothing', () => {
    const sql = grantsSql('registry')
    expect(sql).toContain("'REVOKE ALL ON DATABASE %I FROM PUBLIC'")
    expect(sql).toContain('GRANT SELECT ON ALL TABLES IN SCHEMA public TO iot_processor')
    expect(sql).toContain('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO iot_reader')
    expect(sql).toContain('GRANT SELECT ON ALL TABLES IN SCHEMA public TO iot_api')
    expect(sql).not.toMatch(/GRANT (TRUNCATE|ALL)/)
    // Writes are the API's (its tokens' last use, accepted commands) and the dispatcher's
    // (command states, its outbox: the only DELETE, of its completed rows) alone.
    expect(sql.match(/GRANT [^;]*(INSERT|UPDATE)[^;]*/g)).toEqual([
      'GRANT UPDATE (last_used_at) ON api_tokens TO iot_api',
      'GRANT INSERT ON device_commands, device_command_events, command_audit TO iot_api',
      'GRANT SELECT, UPDATE (state, sent_at, published_at, confirmed_at, failed_at, expired_at, reply, failure) ON device_commands TO iot_dispatcher',
      'GRANT INSERT ON device_command_events TO iot_dispatcher',
      'GRANT SELECT, INSERT, DELETE, UPDATE (cmd, received_at, completed_at) ON command_outbox TO iot_dispatcher'
    ])
    expect(sql.match(/GRANT [^;]*DELETE[^;]*/g)).toEqual(['GRANT SELECT, INSERT, DELETE, UPDATE (cmd, received_at, completed_at) ON command_outbox TO iot_dispatcher'])
  })

  it('time series: the sink may only INSERT into (and read back) iot_measurements and use TEMP tables', () => {
    const sql = grantsSql('timeseries')
    expect(sql).toContain("'GRANT CONNECT, TEMPORARY ON DATABASE %I TO ts_sink'")
    // The sink reads back the stored value of a key it collided with (table-wide: see roles.ts).
    // Every write grant: the sink's measurements, the fleet stage's own three tables.
    expect(sql.match(/GRANT [^;]*(INSERT|UPDATE|DELETE|TRUNCATE|ALL)[^;]* ON [^;]*/g)).toEqual([
      'GRANT INSERT, SELECT ON iot_measurements TO ts_sink',
      'GRANT SELECT, INSERT, UPDATE ON device_state TO ts_fleet',
      'GRANT INSERT ON device_state_events TO ts_fleet',
      'GRANT INSERT ON dead_letters TO ts_fleet'
    ])
  })
})
