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

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    const route = routes[url.pathname] ??
      routes[prefixes.find(p => url.pathname.startsWith(p.slice(0, -1))) ?? '']
    if (route === undefined) {
      sendJson(res, 404, { error: 'not found' })
      return
    }
    Promise.resolve(route(req, res, url)).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: err instanceof Error ? err.message : String(err) })
      else res.destroy()
    })
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
