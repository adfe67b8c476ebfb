import type { Env } from '../../adapters/config.ts'
import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import type { LagReading } from '../../adapters/kafka-lag.ts'
import { runService, type Service } from '../../adapters/lifecycle.ts'
import { createLogger, type Logger } from '../../adapters/logger.ts'
import { createRegistry } from '../../adapters/metrics.ts'
import { loadHealthConfig, type HealthConfig } from './config.ts'
import { brokerLogWatcher } from './broker-log.ts'
import { deviceActivity } from './device-activity.ts'
import { fleetTable } from './fleet-table.ts'
import { createHealthMetrics } from './metrics.ts'
import { createMonitor, type Monitor } from './monitor.ts'
import { mqttProbe } from './probes/mqtt.ts'
import { kafkaProbe } from './probes/kafka.ts'
import { postgresProbe } from './probes/postgres.ts'
import { prometheusProbe, serviceProbe } from './probes/http.ts'
import { routesFor } from './routes.ts'
import { serviceScraper } from './service-scraper.ts'
import type { Registry } from 'prom-client'

export interface HealthService extends Service {
  config: Readonly<HealthConfig>
  monitor: Monitor
  registry: Registry
  /** The bound HTTP port once started (0 in the config means "any free port"). */
  port: () => number
}

/**
 * The health monitor: active probes of the broker (publish/subscribe round trip), Kafka
 * (metadata and consumer-group lag), both databases, Prometheus and each service's
 * `/readyz`, once per interval; serves the results over HTTP with the status page.
 */
export function createHealthService (config: Readonly<HealthConfig>, logger: Logger = createLogger('health')): HealthService {
  const registry = createRegistry('health')
  const metrics = createHealthMetrics(registry)
  const lag = new Map<string, LagReading>()
  const probes = [
    mqttProbe(config.mqtt),
    kafkaProbe({
      brokers: config.kafka.brokers,
      lag: config.lag,
      timeoutMs: config.timeoutMs,
      onLag: reading => {
        lag.set(`${reading.group}\u0000${reading.topic}`, reading)
        metrics.consumerLag.set({ group: reading.group, topic: reading.topic }, reading.lag)
      }
    }),
    postgresProbe({ name: 'registry-db', db: config.registry, timeoutMs: config.timeoutMs }),
    postgresProbe({ name: 'timeseries-db', db: config.timeseries, timeoutMs: config.timeoutMs, measurements: true }),
    prometheusProbe({ url: config.prometheusUrl }),
    ...config.services.map(s => serviceProbe(s))
  ]
  const devices = deviceActivity({
    db: config.timeseries,
    timeoutMs: config.timeoutMs,
    silenceMinutes: config.silenceMinutes,
    seenWindowHours: config.seenWindowHours,
    metrics
  })
  const fleet = fleetTable({ db: config.timeseries, timeoutMs: config.timeoutMs })
  const scraper = serviceScraper(config.services)
  const brokerLog = brokerLogWatcher({ file: config.brokerLog, refusals: metrics.brokerRefusals, logger })
  const monitor = createMonitor({
    probes,
    collectors: [devices, fleet, scraper, brokerLog],
    intervalMs: config.intervalMs,
    timeoutMs: config.timeoutMs,
    metrics,
    logger
  })
  let http: HttpHandle | undefined

  return {
    config,
    monitor,
    registry,
    port: () => http?.port ?? config.port,
    async start () {
      // Serve at once (readiness says "not ready" until the first cycle is done).
      http = await startHttp({
        host: config.host,
        port: config.port,
        registry,
        readiness: () => ({ ready: monitor.cycles() > 0, checks: { first_cycle: monitor.cycles() > 0 } }),
        routes: routesFor(monitor, config, { scraper, devices, fleet, lag, brokerLog })
      })
      await brokerLog.readNow()
      await monitor.start()
      logger.info({ port: http.port, intervalMs: config.intervalMs, components: probes.map(p => p.name) }, 'health monitor serving')
    },
    async stop () {
      await http?.close()
      await monitor.stop()
    }
  }
}

export async function run (_argv: string[], env: Env = process.env): Promise<number> {
  const logger = createLogger('health')
  const config = loadHealthConfig(env)
  return runService(createHealthService(config, logger), { name: 'health', logger, stopDeadlineMs: 5000 })
}
