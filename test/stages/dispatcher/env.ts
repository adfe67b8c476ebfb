import { auth } from '../../../harness/mqtt-account.ts'
import { roleUrl, stackEnv, uniqueName } from '../../../harness/stack.ts'
import { pgConnection } from '../api/harness.ts'

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
    DISPATCHER_CLIENT_ID: uniqueName('f2-dispatcher'),
    DISPATCHER_EXPIRE_EVERY_MS: '200',
    POSTGRES_HOST: pg.host,
    POSTGRES_PORT: String(pg.port),
    POSTGRES_DB: pg.database,
    POSTGRES_USER: pg.user,
    POSTGRES_PASSWORD: pg.password
  }
}
