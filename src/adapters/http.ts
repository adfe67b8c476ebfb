import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'

/** What `/readyz` reports: ready only when every dependency the stage needs is connected. */
export interface Readiness {
  ready: boolean
  checks: Record<string, boolean>
}

export type Route = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<void> | void

export interface HttpOptions {
  host: string
  port: number
  registry: Registry
  readiness: () => Readiness
  /** Extra routes by exact path; a route may also match a prefix ending in `/*`. */
  routes?: Record<string, Route>
  /** A client must have sent its request head within this (slow clients are cut off). Default 10 s. */
  headersTimeoutMs?: number
  /** ... and its whole request within this. Default 30 s. */
  requestTimeoutMs?: number
}

/** Thrown by a route for a request it cannot read (e.g. a bad percent-encoding): answered 400. */
export class BadRequest extends Error {}

/** decodeURIComponent that reports a malformed escape as BadRequest (a 400), not a crash. */
export function decodePathPart (text: string): string {
  try {
    return decodeURIComponent(text)
  } catch {
    throw new BadRequest('malformed percent-encoding in the path')
  }
}

export interface HttpHandle {
  server: Server
  port: number
  close: () => Promise<void>
}

export function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
  res.end(text)
}

/**
 * The small HTTP surface every service shares: `/healthz` (the process is alive),
 * `/readyz` (200 only when its inputs and outputs are connected), `/metrics` (Prometheus text).
 *
 * No request can stop the service: a request line or target that cannot be parsed, or a
 * route that throws BadRequest, is answered 400; any other route error is a 500; what Node's
 * parser refuses (malformed request, oversized head) gets its 400/431 and the connection is
 * closed; a client too slow to send its request is cut off (headersTimeoutMs, requestTimeoutMs).
 */
export async function startHttp (options: HttpOptions): Promise<HttpHandle> {
  const routes: Record<string, Route> = {
    '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
    '/readyz': (_req, res) => {
      const state = options.readiness()
      sendJson(res, state.ready ? 200 : 503, { status: state.ready ? 'ready' : 'not ready', checks: state.checks })
    },
    '/metrics': async (_req, res) => {
      const body = await options.registry.metrics()
      res.writeHead(200, { 'content-type': options.registry.contentType })
      res.end(body)
    },
    ...options.routes
  }
  const prefixes = Object.keys(routes).filter(k => k.endsWith('/*'))

  const fail = (res: ServerResponse, err: unknown): void => {
    if (res.headersSent) { res.destroy(); return }
    if (err instanceof BadRequest) sendJson(res, 400, { error: err.message })
    else sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) })
  }
  const server = createServer({
    headersTimeout: options.headersTimeoutMs ?? 10_000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    // How often those are checked (Node's default 30 s is coarser than the limits themselves).
    connectionsCheckingInterval: 1000
  }, (req, res) => {
    let url: URL
    try {
      url = new URL(req.url ?? '/', 'http://localhost')
    } catch {
      // e.g. `GET http://[/ HTTP/1.1`: an absolute target that is not a URL.
      sendJson(res, 400, { error: 'malformed request target' })
      return
    }
    const route = routes[url.pathname] ??
      routes[prefixes.find(p => url.pathname.startsWith(p.slice(0, -1))) ?? '']
    if (route === undefined) {
      sendJson(res, 404, { error: 'not found' })
      return
    }
    try {
      Promise.resolve(route(req, res, url)).catch((err: unknown) => { fail(res, err) })
    } catch (err) {
      fail(res, err)
    }
  })
  server.keepAliveTimeout = 5000

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>(resolve => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
  }
}
