import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { run as commandCli } from '../../../src/stages/api/command-cli.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import type { ApiService } from '../../../src/stages/api/service.ts'
import { createTempTopics, roleUrl, uniqueTopicName, type TempTopics } from '../../../harness/stack.ts'
import { migratedDatabase, type MigratedDatabase } from '../../storage/helpers.ts'
import { get, insertToken, startApi, type Answer } from './harness.ts'
import { openapiDoc, validated, validateResponse } from './openapi.ts'

/**
 * The command routes against real PostgreSQL, the API connected as its own least-privilege
 * role (iot_api): validation against the registry's wiring, 202/400/401/403, the recorded
 * command, its history and its audit rows, and every answer validated against the document.
 */
let registry: MigratedDatabase
let timeseries: MigratedDatabase
let api: { service: ApiService, base: string }
let readToken: string
let commandToken: string
let topics: TempTopics

const MAC = 'e4fd45f654be' // sample registry: J1 sensor-mode; here also J2 access-control (pin 1), J3 alarm (pins 1, 2), J4 no mode
const UNKNOWN = '0000000000ff'
const COMMAND_TOKEN_ID = 'c0ffee0000c1'
const dbName = (db: MigratedDatabase): string => new URL(db.url).pathname.slice(1)

beforeAll(async () => {
  registry = await migratedDatabase('registry')
  timeseries = await migratedDatabase('timeseries')
  const sql = registry.sql
  const connector = async (number: number, mode: string | null, positions: number[]): Promise<void> => {
    const [row] = await sql<Array<{ id: number }>>`
      INSERT INTO "Connector" ("ControllerId", "ConnectorNumber", "Mode")
      SELECT "DeviceId", ${number}, ${mode} FROM "Device" WHERE lower("MacAddress") = ${MAC} RETURNING "ConnectorId" AS id`
    for (const p of positions) await sql`INSERT INTO "Pin" ("ConnectorId", "Position") VALUES (${row?.id ?? null}, ${p})`
  }
  await connector(2, 'access-control-mode', [1])
  await connector(3, 'alarm-mode', [1, 2])
  await connector(4, null, [1])
  await sql`UPDATE "Connector" SET "Mode" = 'sensor-mode' WHERE "ConnectorNumber" = 1`
  readToken = await insertToken(sql, 'c0ffee0000a1', 'A'.repeat(43), ['read'])
  commandToken = await insertToken(sql, COMMAND_TOKEN_ID, 'B'.repeat(43), ['read', 'command'])
  topics = await createTempTopics([uniqueTopicName('device_commands')])
  api = await startApi(roleUrl('registry', 'api', dbName(registry)), timeseries.url, { KAFKA_COMMAND_TOPIC: topics.names[0] as string })
})

afterAll(async () => {
  await api?.service.stop(2000)
  await topics?.delete()
  await timeseries?.drop()
  await registry?.drop()
})

async function call (template: string, method: 'GET' | 'POST', path: string, init: { token?: string | null, body?: unknown, raw?: string, type?: string } = {}): Promise<Answer> {
  const token = init.token === null ? undefined : init.token ?? commandToken
  if (method === 'GET') {
    const a = await get(`${api.base}${path}`, token === undefined ? {} : { token })
    validateResponse(template, method, a.status, a.headers.get('content-type') ?? '', a.json)
    return a
  }
  const headers: Record<string, string> = { 'content-type': init.type ?? 'application/json' }
  if (token !== undefined) headers.authorization = `Bearer ${token}`
  const res = await fetch(`${api.base}${path}`, { method, headers, body: init.raw ?? JSON.stringify(init.body) })
  const text = await res.text()
  const a: Answer = { status: res.status, headers: res.headers, text, json: JSON.parse(text) as unknown }
  validateResponse(template, method, a.status, res.headers.get('content-type') ?? '', a.json)
  return a
}

const POST = '/api/devices/{mac}/commands'
const send = async (body: unknown, init: { token?: string | null, mac?: string } = {}): Promise<Answer> =>
  await call(POST, 'POST', `/api/devices/${init.mac ?? MAC}/commands`, { ...init, body })
const errorOf = (a: Answer): { code: string, details?: Record<string, unknown> } => (a.json as { error: { code: string, details?: Record<string, unknown> } }).error
const count = async (table: 'device_commands' | 'command_audit'): Promise<number> =>
  Number((await registry.sql.unsafe(`SELECT count(*)::int AS n FROM ${table}`))[0]?.n)

describe('POST /api/devices/{mac}/commands', () => {
  it.each([
    { kind: 'strike', connector: 2, position: 1, action: 'power' },
    { kind: 'strike', connector: 2, position: 1, action: 'unpower' },
    { kind: 'strike', connector: 2, position: 1, action: 'toggle', period: 3 },
    { kind: 'siren', connector: 3, position: 2, state: 'on', ttl_s: 120 },
    { kind: 'reader-feedback', connector: 2, position: 1, signal: 'fail1' },
    { kind: 'status', connector: 3, position: 1, component: 'siren' }
  ])('accepts %j, records it with its event and audit row', async body => {
    const a = await send(body, { mac: 'E4:FD:45:F6:54:BE' })
    expect(a.status).toBe(202)
    const c = a.json as Record<string, unknown>
    const { ttl_s: ttl, ...spec } = body as Record<string, unknown>
    expect(c).toMatchObject({ mac: MAC, kind: body.kind, request: spec, token_id: COMMAND_TOKEN_ID, state: 'accepted', ttl_s: ttl ?? 30, sent_at: null, reply: null })
    expect(Date.parse(String(c.expires_at)) - Date.parse(String(c.accepted_at))).toBe(((ttl as number | undefined) ?? 30) * 1000)
    expect(a.headers.get('location')).toBe(`/api/commands/${String(c.command_id)}`)

    const one = await call('/api/commands/{id}', 'GET', String(a.headers.get('location')), { token: readToken })
    expect(one.status).toBe(200)
    expect(one.json).toEqual({ ...c, events: [{ state: 'accepted', at: c.accepted_at, detail: null }] })
    const audit = await registry.sql`SELECT token_id, device_id, request, outcome, reason FROM command_audit WHERE command_id = ${String(c.command_id)}::uuid`
    expect(audit).toEqual([{ token_id: COMMAND_TOKEN_ID, device_id: MAC, request: body, outcome: 'accepted', reason: null }])
  })

  it.each([
    [{ kind: 'strike', connector: 2, position: 1, action: 'open' }, ErrorCodes.COMMAND_INVALID, { field: 'action' }],
    [{ kind: 'strike', connector: 2, position: 1, action: 'toggle' }, ErrorCodes.COMMAND_INVALID, { field: 'period' }],
    [{ kind: 'siren', connector: 3, position: 1, state: 'on', extra: 1 }, ErrorCodes.COMMAND_INVALID, { field: 'extra' }],
    [{ kind: 'strike', connector: 3, position: 1, action: 'power' }, ErrorCodes.COMMAND_TARGET_UNKNOWN, { reason: 'mode', connector: 3, position: 1 }],
    [{ kind: 'siren', connector: 1, position: 1, state: 'on' }, ErrorCodes.COMMAND_TARGET_UNKNOWN, { reason: 'mode', connector: 1, position: 1 }],
    [{ kind: 'status', connector: 4, position: 1, component: 'strike' }, ErrorCodes.COMMAND_TARGET_UNKNOWN, { reason: 'mode', connector: 4, position: 1 }],
    [{ kind: 'strike', connector: 2, position: 2, action: 'power' }, ErrorCodes.COMMAND_TARGET_UNKNOWN, { reason: 'position', connector: 2, position: 2 }],
    [{ kind: 'reader-feedback', connector: 2, position: 2, signal: 'success' }, ErrorCodes.COMMAND_TARGET_UNKNOWN, { reason: 'position', connector: 2, position: 2 }]
  ])('refuses %j with 400 %s, audits it and records no command', async (body, code, details) => {
    const [commands, audits] = [await count('device_commands'), await count('command_audit')]
    const a = await send(body)
    expect([a.status, errorOf(a).code, errorOf(a).details]).toEqual([400, code, details])
    expect(await count('device_commands')).toBe(commands)
    const [last] = await registry.sql`SELECT token_id, request, outcome, reason, command_id FROM command_audit ORDER BY audit_id DESC LIMIT 1`
    expect(last).toEqual({ token_id: COMMAND_TOKEN_ID, request: body, outcome: 'refused', reason: code, command_id: null })
    expect(await count('command_audit')).toBe(audits + 1)
  })

  it('refuses an unregistered controller, a malformed MAC, a body that is not JSON or not declared JSON', async () => {
    const body = { kind: 'status', connector: 2, position: 1, component: 'strike' }
    const unknown = await send(body, { mac: UNKNOWN })
    expect([unknown.status, errorOf(unknown).code, errorOf(unknown).details?.reason]).toEqual([400, ErrorCodes.COMMAND_TARGET_UNKNOWN, 'controller'])
    const mac = await send(body, { mac: 'nope' })
    expect([mac.status, errorOf(mac).code]).toEqual([400, ErrorCodes.API_PARAMETER_INVALID])
    for (const init of [{ raw: '{"kind":' }, { raw: JSON.stringify(body), type: 'text/plain' }, { raw: JSON.stringify({ ...body, pad: 'x'.repeat(5000) }) }]) {
      const a = await call(POST, 'POST', `/api/devices/${MAC}/commands`, init)
      expect([a.status, errorOf(a).code, errorOf(a).details], JSON.stringify(init).slice(0, 60)).toEqual([400, ErrorCodes.COMMAND_INVALID, { field: 'body' }])
    }
  })

  it('needs a token with the command scope: 401 without one, 403 with a read-only one; nothing is recorded', async () => {
    const body = { kind: 'strike', connector: 2, position: 1, action: 'power' }
    const [commands, audits] = [await count('device_commands'), await count('command_audit')]
    const none = await send(body, { token: null })
    expect([none.status, errorOf(none).code, none.headers.get('www-authenticate')]).toEqual([401, ErrorCodes.API_UNAUTHORIZED, 'Bearer realm="f2"'])
    const bad = await send(body, { token: `${commandToken.slice(0, -1)}C` })
    expect([bad.status, errorOf(bad).code]).toEqual([401, ErrorCodes.API_UNAUTHORIZED])
    const read = await send(body, { token: readToken })
    expect([read.status, errorOf(read).code, errorOf(read).details]).toEqual([403, ErrorCodes.API_FORBIDDEN, { failure: 'scope', required: 'command' }])
    expect([await count('device_commands'), await count('command_audit')]).toEqual([commands, audits])
  })

  it('answers other methods with 405 and the methods allowed', async () => {
    const res = await fetch(`${api.base}/api/devices/${MAC}/commands`, { method: 'PUT', headers: { authorization: `Bearer ${commandToken}` } })
    expect([res.status, res.headers.get('allow')]).toEqual([405, 'GET, POST, HEAD'])
  })
})

describe('GET /api/devices/{mac}/commands and /api/commands/{id}', () => {
  const LIST = '/api/devices/{mac}/commands'

  it('lists a controller\'s commands newest first, a page at a time', async () => {
    const all = await registry.sql<Array<{ id: string }>>`SELECT command_id::text AS id FROM device_commands WHERE device_id = ${MAC} ORDER BY accepted_at DESC, command_id DESC`
    expect(all.length).toBeGreaterThanOrEqual(6)
    const seen: string[] = []
    let cursor: string | null = null
    do {
      const page: Answer = await call(LIST, 'GET', `/api/devices/${MAC}/commands?limit=4${cursor === null ? '' : `&cursor=${cursor}`}`, { token: readToken })
      expect(page.status).toBe(200)
      const body = page.json as { commands: Array<{ command_id: string }>, next_cursor: string | null }
      seen.push(...body.commands.map(c => c.command_id))
      cursor = body.next_cursor
    } while (cursor !== null)
    expect(seen).toEqual(all.map(r => r.id))
    const empty = await call(LIST, 'GET', `/api/devices/${UNKNOWN}/commands`, { token: readToken })
    expect(empty.json).toEqual({ mac: UNKNOWN, commands: [], next_cursor: null })
  })

  it('refuses bad parameters and tokens', async () => {
    for (const q of ['limit=0', 'limit=501', 'cursor=abc', 'limit=1&limit=2', 'state=sent']) {
      const a = await call(LIST, 'GET', `/api/devices/${MAC}/commands?${q}`, { token: readToken })
      expect([a.status, errorOf(a).code], q).toEqual([400, ErrorCodes.API_PARAMETER_INVALID])
    }
    const none = await call(LIST, 'GET', `/api/devices/${MAC}/commands`, { token: null })
    expect(none.status).toBe(401)
    const bad = await call('/api/commands/{id}', 'GET', '/api/commands/not-a-uuid', { token: readToken })
    expect([bad.status, errorOf(bad).code]).toEqual([400, ErrorCodes.API_PARAMETER_INVALID])
    const missing = await call('/api/commands/{id}', 'GET', '/api/commands/00000000-0000-4000-8000-000000000000', { token: readToken })
    expect([missing.status, errorOf(missing).code]).toEqual([404, ErrorCodes.API_NOT_FOUND])
    const anonymous = await call('/api/commands/{id}', 'GET', '/api/commands/00000000-0000-4000-8000-000000000000', { token: null })
    expect(anonymous.status).toBe(401)
  })

  it('every documented 2xx, 400 and 401 answer of the command routes has been validated', () => {
    for (const [path, ops] of Object.entries(openapiDoc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        if (!((op as { tags?: string[] }).tags ?? []).includes('commands')) continue
        for (const [status, response] of Object.entries(op.responses)) {
          if (!['200', '202', '400', '401'].includes(status)) continue
          for (const media of Object.keys(response.content ?? {})) {
            expect(validated.has(`${method.toUpperCase()} ${path} ${status} ${media}`), `${method} ${path} ${status} ${media}`).toBe(true)
          }
        }
      }
    }
  })
})

describe('command CLI', () => {
  async function cli (args: string[], token = commandToken): Promise<{ code: number, out: string, err: string }> {
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true)
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true)
    try {
      const code = await commandCli(args, { F2_API_URL: api.base, F2_API_TOKEN: token })
      return { code, out: out.mock.calls.map(c => String(c[0])).join(''), err: err.mock.calls.map(c => String(c[0])).join('') }
    } finally {
      out.mockRestore()
      err.mockRestore()
    }
  }

  it('sends a command through the API, then shows and lists it', async () => {
    const sent = await cli(['send', MAC, '--kind', 'strike', '--connector', '2', '--position', '1', '--action', 'toggle', '--period', '4', '--ttl', '45'])
    expect(sent.code).toBe(0)
    const c = JSON.parse(sent.out) as { command_id: string, request: unknown, ttl_s: number, token_id: string }
    expect([c.request, c.ttl_s, c.token_id]).toEqual([{ kind: 'strike', connector: 2, position: 1, action: 'toggle', period: 4 }, 45, COMMAND_TOKEN_ID])
    const shown = await cli(['show', c.command_id])
    expect([shown.code, (JSON.parse(shown.out) as { state: string }).state]).toEqual([0, 'accepted'])
    const listed = await cli(['list', MAC])
    expect((JSON.parse(listed.out) as { commands: Array<{ command_id: string }> }).commands[0]?.command_id).toBe(c.command_id)
  })

  it('refuses a bad body before sending (exit 2), and reports the API\'s refusals (exit 1)', async () => {
    const before = await count('command_audit')
    const local = await cli(['send', MAC, '--kind', 'strike', '--connector', '2', '--position', '1', '--action', 'toggle'])
    expect([local.code, local.err.split('\n')[0]]).toEqual([2, 'F2_COMMAND_INVALID: period: expected an integer from 1 to 255'])
    expect(await count('command_audit')).toBe(before)
    const remote = await cli(['send', MAC, '--kind', 'siren', '--connector', '2', '--position', '1', '--state', 'on'])
    expect([remote.code, remote.err]).toEqual([1, expect.stringContaining(ErrorCodes.COMMAND_TARGET_UNKNOWN)])
    const forbidden = await cli(['send', MAC, '--kind', 'status', '--connector', '2', '--position', '1', '--component', 'strike'], readToken)
    expect([forbidden.code, forbidden.err]).toEqual([1, expect.stringContaining('HTTP 403')])
    expect((await cli(['show', 'nope'])).code).toBe(2)
  })
})
