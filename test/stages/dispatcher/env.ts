import { afterAll } from 'vitest'
import { endSession } from '../../../harness/broker.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { roleUrl, stackEnv, uniqueName } from '../../../harness/stack.ts'
import { pgConnection } from '../api/harness.ts'

const clientIds: string[] = []

/**
 * A fresh dispatcher client id. Its persistent session is ended once the file's tests are
 * done: after-all hooks run in reverse order, so after the file's own, which stop its dispatchers.
 */
export function dispatcherClientId (): string {
  const id = uniqueName('f2-dispatcher')
  clientIds.push(id)
  return id
}
afterAll(async () => { for (const id of clientIds.splice(0)) await endSession(stackEnv().mqttUrl, id, auth()) })

/**
 * A dispatcher's settings for a test: the stack's Kafka and broker, command topic `topic`, a
 * fresh consumer group and client id, and the registry database at `registryUrl` as the
 * dispatcher's own role (what it may change is what it is granted).
 */
export function dispatcherTestEnv (registryUrl: string, topic: string): Record<string, string> {
  const pg = pgConnection(roleUrl('registry', 'dispatcher', new URL(registryUrl).pathname.slice(1)))
  return {
    KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap,
    KAFKA_COMMAND_TOPIC: topic,
    KAFKA_CONSUMER_GROUP: uniqueName('dispatcher'),
    MQTT_BROKER: stackEnv().mqttUrl,
    MQTT_USERNAME: auth().username,
    MQTT_PASSWORD: auth().password,
    DISPATCHER_CLIENT_ID: dispatcherClientId(),
    DISPATCHER_EXPIRE_EVERY_MS: '200',
    POSTGRES_HOST: pg.host,
    POSTGRES_PORT: String(pg.port),
    POSTGRES_DB: pg.database,
    POSTGRES_USER: pg.user,
    POSTGRES_PASSWORD: pg.password
  }
}
