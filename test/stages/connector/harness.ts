import { createLogger } from '../../../src/adapters/logger.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import { loadConnectorConfig } from '../../../src/stages/connector/config.ts'
import { connectorMetrics } from '../../../src/stages/connector/metrics.ts'
import { ConnectorStage } from '../../../src/stages/connector/stage.ts'
import { afterAll } from 'vitest'
import { endSession } from '../../../harness/broker.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { stackEnv } from '../../../harness/stack.ts'

const mqttCredentials = (): Record<string, string> => { const a = auth(); return { MQTT_USERNAME: a.username, MQTT_PASSWORD: a.password } }

export interface TestConnector {
  stage: ConnectorStage
  registry: ReturnType<typeof createRegistry>
  stop: () => Promise<void>
}

const sessions: Array<{ url: string, clientId: string, username: string, password: string }> = []
// After the file's own after-all hooks (they run in reverse order), which stop its connectors:
// a session left behind (MQTT_SESSION_EXPIRY_S, a week by default) would take a copy of every
// later message on its filters, up to the broker's queue limit.
afterAll(async () => {
  for (const s of sessions.splice(0)) await endSession(s.url, s.clientId, s).catch(() => { /* a private broker already stopped took its sessions along */ })
})

/**
 * The connector's environment for a test: its own topics, filters, client id and group. The
 * client id's session is ended once the file's tests are done.
 */
export function connectorEnv (o: { topic: string, deadLetterTopic: string, filters: string[], clientId: string, group: string, bootstrap?: string, extra?: Record<string, string> }): Record<string, string> {
  const env = {
    MQTT_BROKER: stackEnv().mqttUrl,
    ...mqttCredentials(),
    MQTT_TOPICS: o.filters.join(','),
    MQTT_SHARE_GROUP: o.group,
    CONNECTOR_CLIENT_ID: o.clientId,
    KAFKA_BOOTSTRAP_SERVERS: o.bootstrap ?? stackEnv().kafkaBootstrap,
    KAFKA_TOPIC: o.topic,
    KAFKA_DEAD_LETTER_TOPIC: o.deadLetterTopic,
    MQTT_RECONNECT_MIN_MS: '100',
    MQTT_RECONNECT_MAX_MS: '1000',
    KAFKA_RETRY_MIN_MS: '100',
    KAFKA_RETRY_MAX_MS: '1000',
    HTTP_PORT: '0',
    ...o.extra
  }
  const c = loadConnectorConfig(env)
  sessions.push({ url: c.mqttUrl, clientId: c.clientId, username: c.mqttUsername ?? '', password: c.mqttPassword ?? '' })
  return env
}

export async function startConnector (env: Record<string, string>): Promise<TestConnector> {
  const registry = createRegistry('connector')
  const stage = new ConnectorStage({ config: loadConnectorConfig(env), logger: createLogger('connector', process.env.TEST_LOG_LEVEL ?? 'silent'), metrics: connectorMetrics(registry) })
  await stage.start()
  return { stage, registry, stop: () => stage.stop(5000) }
}

