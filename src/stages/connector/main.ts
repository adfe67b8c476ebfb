import { parseArgs } from 'node:util'
import { boundHeapGrowth } from '../../adapters/memory.ts'
import { redact } from '../../adapters/config.ts'
import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import { runService } from '../../adapters/lifecycle.ts'
import { createLogger } from '../../adapters/logger.ts'
import { createRegistry } from '../../adapters/metrics.ts'
import { loadConnectorConfig } from './config.ts'
import { connectorMetrics } from './metrics.ts'
import { ConnectorStage } from './stage.ts'

const USAGE = `usage: node src/cli.ts connector

MQTT → Kafka connector. Configured from the environment (seed names): MQTT_BROKER, MQTT_PORT,
MQTT_TOPIC_PATTERN (or MQTT_TOPICS), KAFKA_BOOTSTRAP_SERVERS, KAFKA_TOPIC, KAFKA_DEAD_LETTER_TOPIC,
CONNECTOR_CLIENT_ID, MQTT_SHARE_GROUP, MQTT_RECEIVE_MAXIMUM, CONNECTOR_BATCH_WAIT_MS, CONNECTOR_BATCH_SIZE,
KAFKA_COMPRESSION, MAX_PAYLOAD_BYTES, HTTP_PORT (see docs/architecture/connector.md).
`

export async function run (argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { help: { type: 'boolean', short: 'h' } }, strict: true })
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  boundHeapGrowth()
  const logger = createLogger('connector')
  const config = loadConnectorConfig()
  logger.info({ config: redact(config) }, 'connector configuration')
  const registry = createRegistry('connector')
  const stage = new ConnectorStage({ config, logger, metrics: connectorMetrics(registry) })
  let http: HttpHandle | undefined
  return runService({
    start: async () => {
      http = await startHttp({ host: config.httpHost, port: config.httpPort, registry, readiness: () => stage.readiness() })
      await stage.start()
    },
    stop: async deadlineMs => {
      await stage.stop(deadlineMs)
      await http?.close()
    }
  }, { name: 'connector', logger })
}
