import { boundHeapGrowth } from '../../adapters/memory.ts'
import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import { runService, type Service } from '../../adapters/lifecycle.ts'
import { createLogger } from '../../adapters/logger.ts'
import { redact } from '../../adapters/config.ts'
import { connect } from '../../storage/connection.ts'
import { TimeseriesWriter } from '../../storage/timeseries-writer.ts'
import { loadSinkConfig } from './config.ts'
import { createSinkMetrics } from './metrics.ts'
import { SinkStage } from './stage.ts'

/** `node src/cli.ts sink`: runs the TimescaleDB sink until SIGINT/SIGTERM. */
export async function run (_argv: string[]): Promise<number> {
  boundHeapGrowth()
  const logger = createLogger('sink')
  const config = loadSinkConfig()
  logger.info({ config: redact(config) }, 'sink configuration')
  const metrics = createSinkMetrics()
  const sql = connect(config.timeseries, { max: 2 })
  const writer = new TimeseriesWriter(sql)
  const stage = new SinkStage({ config, logger, metrics, writer })
  let http: HttpHandle | undefined
  const service: Service = {
    start: async () => {
      http = await startHttp({ host: config.httpHost, port: config.httpPort, registry: metrics.registry, readiness: () => stage.readiness() })
      await stage.start()
    },
    stop: async deadlineMs => {
      await stage.stop(deadlineMs)
      await sql.end({ timeout: 2 })
      await http?.close()
    }
  }
  return runService(service, { name: 'sink', logger })
}
