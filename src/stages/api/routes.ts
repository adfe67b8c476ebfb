import type { IncomingMessage, ServerResponse } from 'node:http'
import { sendJson, type Route } from '../../adapters/http.ts'
import type { Logger } from '../../adapters/logger.ts'
import { COMMAND_KINDS } from '../../core/command.ts'
import { ErrorCodes, F2Error, isF2Error } from '../../core/errors.ts'
import type { ControllerListing } from '../../registry/listing.ts'
import { parseCommandId, parseCommandList, readJsonBody, submitCommand, type CommandBook, type CommandQueue } from './commands.ts'
import { toCsv } from './csv.ts'
import type { ApiMetrics } from './metrics.ts'
import {
  encodeDeadLetterCursor, invalid, parseDeadLetters, parseDeviceList, parseMac, parseReadings
} from './params.ts'
import { problemOf, sendProblem } from './problem.ts'
import { AGGREGATE_COLUMNS, RAW_COLUMNS } from './queries.ts'
import type { FleetReader, Row } from './reader.ts'
import type { ApiScope } from './tokens.ts'

export interface ApiDeps {
  reader: FleetReader
  /** Resolves to the token id, or throws F2_API_UNAUTHORIZED / F2_API_FORBIDDEN. */
  authenticate: (authorization: string | undefined, scope: ApiScope) => Promise<string>
  metrics: ApiMetrics
  logger: Logger
  /** The OpenAPI document, served as it is at /api/openapi.json. */
  openapi: Buffer
  /** The command tables, where accepted commands go next, and the TTL of a command that names none. */
  commands: { book: CommandBook, queue?: CommandQueue, defaultTtlS: number }
  now?: () => Date
}

/** `tokenId` is the id of the token that passed the route's scope check (undefined on open routes). */
type Handler = (ctx: { req: IncomingMessage, res: ServerResponse, url: URL, params: string[], tokenId: string | undefined }) => Promise<void> | void

/**
 * One entry per path: the methods it answers, each with the token scope it needs (none for
 * the API's own description). A later route with another scope (e.g. commands) is one more
 * entry here.
 */
interface ApiRoute { name: string, pattern: RegExp, methods: Record<string, { scope: ApiScope | null, handle: Handler }> }

const SEGMENT = '([^/]+)'

/** The routes under /api/, for `startHttp`'s route table. */
export function apiRoutes (deps: ApiDeps): Record<string, Route> {
  const now = deps.now ?? (() => new Date())
  const { reader, metrics } = deps
  const table: ApiRoute[] = [
    {
      name: 'openapi',
      pattern: /^\/api\/openapi\.json$/,
      methods: {
        GET: {
          scope: null,
          handle: ({ res }) => {
            res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-cache', 'content-length': deps.openapi.length })
            res.end(deps.openapi)
          }
        }
      }
    },
    {
      name: 'devices',
      pattern: /^\/api\/devices$/,
      methods: {
        GET: {
          scope: 'read',
          handle: async ({ res, url }) => {
            const q = parseDeviceList(url.searchParams)
            const page = await reader.devices(q)
            sendJson(res, 200, { devices: page.rows, next_cursor: page.more ? String(page.rows.at(-1)?.mac) : null })
          }
        }
      }
    },
    {
      name: 'device',
      pattern: new RegExp(`^/api/devices/${SEGMENT}$`),
      methods: {
        GET: {
          scope: 'read',
          handle: async ({ res, url, params }) => {
            single(url)
            const mac = parseMac(params[0] as string)
            const d = await reader.device(mac)
            if (d === undefined) throw unknownDevice(mac)
            sendJson(res, 200, { mac, state: d.state, last_values: d.lastValues, transitions: d.transitions, registry: wiringJson(d.registry) })
          }
        }
      }
    },
    {
      name: 'readings',
      pattern: new RegExp(`^/api/devices/${SEGMENT}/readings$`),
      methods: {
        GET: {
          scope: 'read',
          handle: async ({ req, res, url, params }) => {
            const mac = parseMac(params[0] as string)
            const q = parseReadings(mac, url.searchParams, now(), req.headers.accept)
            const r = await reader.readings(q)
            if (r === undefined) throw unknownDevice(mac)
            if (q.format === 'csv') {
              const body = toCsv(q.bucket === 'raw' ? RAW_COLUMNS : AGGREGATE_COLUMNS, r.rows)
              res.writeHead(200, {
                'content-type': 'text/csv; charset=utf-8; header=present',
                'content-disposition': `attachment; filename="${mac}-${q.bucket}.csv"`,
                'cache-control': 'no-store',
                'x-f2-source': r.source,
                'x-f2-truncated': String(r.truncated)
              })
              res.end(body)
              return
            }
            sendJson(res, 200, {
              mac, bucket: q.bucket, from: q.from.toISOString(), to: q.to.toISOString(), source: r.source, truncated: r.truncated, readings: r.rows
            })
          }
        }
      }
    },
    {
      name: 'device_commands',
      pattern: new RegExp(`^/api/devices/${SEGMENT}/commands$`),
      methods: {
        GET: {
          scope: 'read',
          handle: async ({ res, url, params }) => {
            const mac = parseMac(params[0] as string)
            const q = parseCommandList(url.searchParams)
            const rows = await deps.commands.book.list(mac, q.limit, q.before)
            const page = rows.slice(0, q.limit)
            sendJson(res, 200, { mac, commands: page, next_cursor: rows.length > q.limit ? String(page.at(-1)?.command_id) : null })
          }
        },
        POST: {
          scope: 'command',
          handle: async ({ req, res, url, params, tokenId }) => {
            single(url)
            const mac = parseMac(params[0] as string)
            const body = await readJsonBody(req)
            let command: Row
            try {
              command = await submitCommand(deps.commands.book, deps.commands.queue, mac, tokenId as string, body, deps.commands.defaultTtlS)
            } catch (err) {
              metrics.commands.inc({ kind: commandKind(body), outcome: isF2Error(err) && problemOf(err).status === 400 ? 'refused' : 'error' })
              throw err
            }
            metrics.commands.inc({ kind: String(command.kind), outcome: 'accepted' })
            res.setHeader('location', `/api/commands/${String(command.command_id)}`)
            sendJson(res, 202, command)
          }
        }
      }
    },
    {
      name: 'command',
      pattern: new RegExp(`^/api/commands/${SEGMENT}$`),
      methods: {
        GET: {
          scope: 'read',
          handle: async ({ res, url, params }) => {
            single(url)
            const id = parseCommandId(params[0] as string)
            const command = await deps.commands.book.get(id)
            if (command === undefined) throw new F2Error(ErrorCodes.API_NOT_FOUND, `no command ${id}`, { details: { id } })
            sendJson(res, 200, command)
          }
        }
      }
    },
    {
      name: 'dead_letters',
      pattern: /^\/api\/dead-letters$/,
      methods: {
        GET: {
          scope: 'read',
          handle: async ({ res, url }) => {
            const q = parseDeadLetters(url.searchParams, now(), Object.values(ErrorCodes))
            const page = await reader.deadLetters(q)
            const last = page.rows.at(-1)
            sendJson(res, 200, {
              dead_letters: page.rows,
              next_cursor: page.more && last !== undefined
                ? encodeDeadLetterCursor({ failedAt: String(last.failed_at), partition: Number(last.partition), offset: String(last.offset) })
                : null
            })
          }
        }
      }
    }
  ]

  const handle: Route = async (req, res, url) => {
    const started = process.hrtime.bigint()
    let routeName = 'unknown'
    try {
      let match: { route: ApiRoute, params: string[] } | undefined
      for (const route of table) {
        const m = route.pattern.exec(url.pathname)
        if (m !== null) { match = { route, params: m.slice(1) }; break }
      }
      if (match === undefined) throw new F2Error(ErrorCodes.API_NOT_FOUND, `no route ${url.pathname}`)
      routeName = match.route.name
      const method = req.method === 'HEAD' ? 'GET' : req.method ?? ''
      const entry = match.route.methods[method]
      if (entry === undefined) {
        throw new F2Error(ErrorCodes.API_METHOD_NOT_ALLOWED, `${req.method ?? ''} is not allowed here`, { details: { allow: allowed(match.route) } })
      }
      let tokenId: string | undefined
      if (entry.scope !== null) {
        try {
          tokenId = await deps.authenticate(req.headers.authorization, entry.scope)
        } catch (err) {
          const failure = (err as F2Error).details?.failure
          if (typeof failure === 'string') metrics.authFailures.inc({ reason: failure })
          throw err
        }
      }
      const params = match.params.map((p, i) => decodeSegment(p, i))
      await entry.handle({ req, res, url, params, tokenId })
    } catch (err) {
      const p = problemOf(err)
      if (p.status >= 500) deps.logger.warn({ err, route: routeName, code: p.code }, 'api request failed')
      if (!res.headersSent) sendProblem(res, p)
      else res.destroy()
    } finally {
      metrics.requests.inc({ route: routeName, status: String(res.statusCode) })
      metrics.duration.observe({ route: routeName }, Number(process.hrtime.bigint() - started) / 1e9)
    }
  }
  return { '/api/*': handle }
}

/** The kind named by a command body, for the metric label: one of the kinds or `invalid`. */
function commandKind (body: unknown): string {
  const kind = (body as { kind?: unknown } | null)?.kind
  return typeof kind === 'string' && (COMMAND_KINDS as readonly string[]).includes(kind) ? kind : 'invalid'
}

function allowed (route: ApiRoute): string {
  const methods = Object.keys(route.methods)
  return (methods.includes('GET') ? [...methods, 'HEAD'] : methods).join(', ')
}

function decodeSegment (segment: string, index: number): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw invalid(index === 0 ? 'mac' : 'path', 'malformed percent-encoding')
  }
}

/** A route without query parameters refuses any. */
function single (url: URL): void {
  const [first] = url.searchParams.keys()
  if (first !== undefined) throw invalid(first, 'unknown parameter (this route takes none)')
}

function unknownDevice (mac: string): F2Error {
  return new F2Error(ErrorCodes.API_NOT_FOUND, `no controller ${mac} in the device state or the registry`, { details: { mac } })
}

function wiringJson (c: ControllerListing | null): Row | null {
  if (c === null) return null
  return {
    device_id: c.deviceId,
    name: c.name,
    connectors: c.connectors.map(cn => ({
      number: cn.number,
      pins: cn.pins.map(p => ({
        position: p.position,
        sensor: p.sensor === null ? null : { device_id: p.sensor.deviceId, name: p.sensor.name, template: p.sensor.template, data_points: p.sensor.dataPoints }
      }))
    }))
  }
}
