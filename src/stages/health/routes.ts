import { readFileSync } from 'node:fs'
import { decodePathPart, sendJson, type Route } from '../../adapters/http.ts'
import type { BrokerSecuritySnapshot } from './broker-log.ts'
import type { Monitor } from './monitor.ts'
import type { HealthConfig } from './config.ts'
import type { DeviceActivitySnapshot } from './device-activity.ts'
import type { FleetSnapshot } from './fleet-table.ts'
import type { LagReading } from '../../adapters/kafka-lag.ts'
import type { ServiceCounters } from './service-scraper.ts'
import { buildStatus, type StatusDocument } from './status.ts'

const STATUS_PAGE = new URL('./status.html', import.meta.url)

/**
 * `/health` (the seed's body; 200 unless unhealthy, then 503), `/health/{component}` (that
 * component's last probe with its duration; 404 for an unknown name, 503 while it is down),
 * `/api/status` (what the status page draws), `/status` (the page itself) and `/`, a 302
 * to the page, so that a person who opens the health port lands on it.
 */
export function healthRoutes (monitor: Monitor, status: () => StatusDocument): Record<string, Route> {
  const page = readFileSync(STATUS_PAGE)
  return {
    '/': (_req, res) => {
      res.writeHead(302, { location: '/status', 'cache-control': 'no-cache', 'content-length': 0 })
      res.end()
    },
    '/health': (_req, res) => {
      const report = monitor.report()
      sendJson(res, report.status === 'unhealthy' ? 503 : 200, report)
    },
    '/health/*': (_req, res, url) => {
      const name = decodePathPart(url.pathname.slice('/health/'.length))
      const state = monitor.component(name)
      if (state === undefined) {
        sendJson(res, 404, { error: `unknown component "${name}"`, components: Object.keys(monitor.report().services) })
        return
      }
      sendJson(res, state.status === 'healthy' ? 200 : 503, state)
    },
    '/api/status': (_req, res) => sendJson(res, 200, status()),
    '/status': (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache', 'content-length': page.length })
      res.end(page)
    }
  }
}

/** The HTTP routes over the monitor and its collectors' latest snapshots. */
export function routesFor (monitor: Monitor, config: Readonly<HealthConfig>, sources: {
  scraper: { snapshot: () => ServiceCounters[] }
  devices: { snapshot: () => DeviceActivitySnapshot }
  fleet?: { snapshot: () => FleetSnapshot }
  lag: ReadonlyMap<string, LagReading>
  brokerLog?: { snapshot: () => BrokerSecuritySnapshot }
}): Record<string, Route> {
  return healthRoutes(monitor, () => buildStatus({
    monitor,
    intervalMs: config.intervalMs,
    services: sources.scraper.snapshot(),
    lag: [...sources.lag.values()],
    devices: sources.devices.snapshot(),
    fleet: sources.fleet?.snapshot() ?? { checked_at: null, online: 0, offline: 0, controllers: [] },
    broker: sources.brokerLog?.snapshot()
  }))
}
