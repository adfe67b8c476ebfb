import { boundHeapGrowth } from '../../adapters/memory.ts'
import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import { runService, type Service } from '../../adapters/lifecycle.ts'
import { createLogger } from '../../adapters/logger.ts'
import { redact } from '../../adapters/config.ts'
import { connect } from '../../storage/connection.ts'
import { loadFleetConfig } from './config.ts'
import { createFleetMetrics } from './metrics.ts'
import { FleetStage } from './stage.ts'
import { FleetStore, loadIntervals } from './store.ts'
import { UpstreamWatch } from './upstream.ts'

/** `node src/cli.ts fleet`: keeps the fleet's state until SIGINT/SIGTERM. */
export async function run (_argv: string[]): Promise<number> {
  boundHeapGrowth()
  const logger = createLogger('fleet')
  const config = loadFleetConfig()
  logger.info({ config: redact(config) }, 'fleet configuration')
  const metrics = createFleetMetrics()
  const sql = connect(config.timeseries, { max: 2 })
  const registry = connect(config.registry, { max: 1 })
  const upstream = config.upstreamGroup === null
    ? undefined
    : new UpstreamWatch({ brokers: config.brokers, group: config.upstreamGroup, topic: config.rawTopic, intervalMs: config.upstreamCheckMs, logger })
  const stage = new FleetStage({ config, logger, metrics, store: new FleetStore(sql), intervals: async () => loadIntervals(registry), upstream })
  let http: HttpHandle | undefined
  const service: Service = {
    start: async () => {
      http = await startHttp({ host: config.httpHost, port: config.httpPort, registry: metrics.registry, readiness: () => stage.readiness() })
      // A changed interval or a new controller is seen within a loop turn; the periodic
      // re-read (FLEET_REGISTRY_REFRESH_S) covers a LISTEN lost with its connection.
      await registry.listen('registry_changed', () => stage.registryChanged())
        .catch((err: unknown) => logger.warn({ err }, 'LISTEN registry_changed failed; the registry is read every FLEET_REGISTRY_REFRESH_S'))
      upstream?.start()
      await stage.start()
    },
    stop: async deadlineMs => {
      await stage.stop(deadlineMs)
      await upstream?.stop()
      await registry.end({ timeout: 2 })
      await sql.end({ timeout: 2 })
      await http?.close()
    }
  }
  return runService(service, { name: 'fleet', logger })
}
