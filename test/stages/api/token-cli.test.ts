import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ErrorCodes } from '../../../src/core/errors.ts'
import { hashSecret, parseToken } from '../../../src/stages/api/tokens.ts'
import { migratedDatabase, type MigratedDatabase } from '../../storage/helpers.ts'
import { get, pgConnection, startApi } from './harness.ts'
import type { ApiService } from '../../../src/stages/api/service.ts'
import { waitForValue } from '../../../harness/wait.ts'

const CLI = fileURLToPath(new URL('../../../src/cli.ts', import.meta.url))
let registry: MigratedDatabase
let timeseries: MigratedDatabase
let api: { service: ApiService, base: string }

function token (...args: string[]): { code: number | null, out: string, err: string } {
  const c = pgConnection(registry.url)
  const r = spawnSync(process.execPath, [CLI, 'token', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, POSTGRES_HOST: c.host, POSTGRES_PORT: String(c.port), POSTGRES_DB: c.database, POSTGRES_USER: c.user, POSTGRES_PASSWORD: c.password }
  })
  return { code: r.status, out: r.stdout, err: r.stderr }
}

beforeAll(async () => {
  registry = await migratedDatabase('registry')
  timeseries = await migratedDatabase('timeseries')
  api = await startApi(registry.url, timeseries.url)
})

afterAll(async () => {
  await api?.service.stop(2000)
  await timeseries?.drop()
  await registry?.drop()
})

describe('token create | list | revoke', () => {
  it('creates a token shown once, stored only as a hash; list never shows it; revoke stops it at the next request', async () => {
    const created = token('create', '--name', 'grafana reader', '--scope', 'read')
    expect(created.code, created.err).toBe(0)
    const value = /^(f2_[0-9a-f]{12}_[A-Za-z0-9_-]{43})$/m.exec(created.out)?.[1] as string
    expect(value).toBeDefined()
    const parsed = parseToken(value)
    const rows = await registry.sql<Array<{ token_id: string, name: string, scopes: string[], secret_hash: Uint8Array }>>`SELECT token_id, name, scopes, secret_hash FROM api_tokens`
    expect(rows.map(r => [r.token_id, r.name, r.scopes])).toEqual([[parsed?.id, 'grafana reader', ['read']]])
    expect(Buffer.from(rows[0]?.secret_hash as Uint8Array)).toEqual(hashSecret(parsed?.secret as string))
    const dump = await registry.sql<Array<{ t: string }>>`SELECT row_to_json(a)::text AS t FROM api_tokens a`
    expect(dump[0]?.t).not.toContain(parsed?.secret)

    expect((await get(`${api.base}/api/devices`, { token: value })).status).toBe(200)
    // the last use is recorded off the request path
    await waitForValue('last use recorded', async () => {
      const [row] = await registry.sql<Array<{ used: boolean }>>`SELECT last_used_at IS NOT NULL AS used FROM api_tokens`
      return row?.used === true ? true : undefined
    }, 10_000, 50)

    const list = token('list')
    expect(list.code).toBe(0)
    expect(list.out).toContain(parsed?.id)
    expect(list.out).toContain('grafana reader')
    expect(list.out).not.toContain(parsed?.secret)
    const json = JSON.parse(token('list', '--json').out) as Array<{ id: string, lastUsedAt: string | null, revokedAt: string | null }>
    expect(json).toMatchObject([{ id: parsed?.id, revokedAt: null }])
    expect(json[0]?.lastUsedAt).not.toBeNull()

    expect(token('revoke', parsed?.id as string)).toMatchObject({ code: 0, out: `token ${parsed?.id} revoked\n` })
    expect(token('revoke', parsed?.id as string)).toMatchObject({ code: 0, out: `token ${parsed?.id} was already revoked\n` })
    const refused = await get(`${api.base}/api/devices`, { token: value })
    expect([refused.status, (refused.json as { error: { code: string } }).error.code]).toEqual([401, ErrorCodes.API_UNAUTHORIZED])
  })

  it('the default scope is read; unknown scopes, bad names and unknown ids are refused', () => {
    expect(token('create', '--name', 'default').code).toBe(0)
    const badScope = token('create', '--name', 'x', '--scope', 'admin')
    expect([badScope.code, badScope.err]).toEqual([1, expect.stringContaining(ErrorCodes.API_TOKEN_INVALID_CHANGE)])
    const badName = token('create', '--name', ' ')
    expect([badName.code, badName.err]).toEqual([1, expect.stringContaining(ErrorCodes.API_TOKEN_INVALID_CHANGE)])
    const unknown = token('revoke', '0123456789ab')
    expect([unknown.code, unknown.err]).toEqual([1, expect.stringContaining(ErrorCodes.API_NOT_FOUND)])
    expect(token('create').code).toBe(2)
    expect(token('revoke').code).toBe(2)
    expect(token('rotate').code).toBe(2)
    expect(token('create', '--name', 'x', '--admin').code).toBe(2)
  })
})
