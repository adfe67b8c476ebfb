import { boundHeapGrowth } from '../../adapters/memory.ts'
import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import { runService, type Service } from '../../adapters/lifecycle.ts'
import { createLogger } from '../../adapters/logger.ts'
import { redact } from '../../adapters/config.ts'
import { connect } from '../../storage/connection.ts'
import { RegistryStore } from '../../registry/store.ts'
import { loadProcessorConfig } from './config.ts'
import { createProcessorMetrics } from './metrics.ts'
import { ProcessorStage } from './stage.ts'

/** `node src/cli.ts processor`: runs the data processor until SIGINT/SIGTERM. */
export async function run (_argv: string[]): Promise<number> {
  boundHeapGrowth()
  const logger = createLogger('processor')
  const config = loadProcessorConfig()
  logger.info({ config: redact(config) }, 'processor configuration')
  const metrics = createProcessorMetrics()
  const sql = connect(config.registry, { max: 4 })
  const store = new RegistryStore(sql, {
    onHit: () => metrics.cacheHits.inc(),
    onMiss: () => metrics.cacheMisses.inc()
  })
  const stage = new ProcessorStage({ config, logger, metrics, resolver: store })
  let http: HttpHandle | undefined
  const service: Service = {
    start: async () => {
      http = await startHttp({ host: config.httpHost, port: config.httpPort, registry: metrics.registry, readiness: () => stage.readiness() })
      await store.start()
      await stage.start()
    },
    stop: async deadlineMs => {
      await stage.stop(deadlineMs)
      await store.close()
      await sql.end({ timeout: 2 })
      await http?.close()
    }
  }
  return runService(service, { name: 'processor', logger })
}
