import { hostname } from 'node:os'
import { z } from 'zod'
import { configLoader, env, httpFields, pickHttp, type Alias } from '../../adapters/config.ts'
import { deadLetterFields, kafkaFields, pickDeadLetter, pickKafka } from '../../adapters/connections/kafka.ts'
import { mqttFields, pickMqtt } from '../../adapters/connections/mqtt.ts'
import { COMPRESSIONS } from '../../adapters/kafka.ts'
import { tlsFromFiles } from '../../adapters/mqtt.ts'

export const schema = z.object({
  /** MQTT_BROKER: a host name (the seed's form) or a full `mqtt://host:port` URL. */
  ...mqttFields,
  /** TLS (an `mqtts://` MQTT_BROKER): the broker's CA, and a client certificate and key if it asks for one. */
  MQTT_CA_FILE: z.string().optional(),
  MQTT_CERT_FILE: z.string().optional(),
  MQTT_KEY_FILE: z.string().optional(),
  /** The seed's single filter; a comma-separated list is accepted. Overrides MQTT_TOPICS. */
  MQTT_TOPIC_PATTERN: z.string().optional(),
  MQTT_TOPICS: env.list(['tele/#', 'stat/#']),
  /** Shared-subscription group: instances with the same group split the messages. */
  MQTT_SHARE_GROUP: env.string('f2-connector'),
  MQTT_SHARED: env.bool(true),
  /** Stable per instance: the broker keeps this client's persistent session across restarts. */
  CONNECTOR_CLIENT_ID: env.string(`f2-connector-${hostname()}`),
  MQTT_SESSION_EXPIRY_S: env.int(7 * 24 * 3600, 0, 0xffffffff),
  /** Bound on messages received but not yet acknowledged (MQTT v5 Receive Maximum). */
  MQTT_RECEIVE_MAXIMUM: env.int(1000, 1, 65535),
  MQTT_KEEPALIVE_S: env.int(30, 5, 3600),
  MQTT_RECONNECT_MIN_MS: env.int(500, 10, 60_000),
  MQTT_RECONNECT_MAX_MS: env.int(30_000, 10, 600_000),
  ...kafkaFields,
  KAFKA_TOPIC: env.string('raw_iot_data'),
  ...deadLetterFields,
  /** Longest a message waits for its produce batch to fill. */
  CONNECTOR_BATCH_WAIT_MS: env.int(5, 0, 60_000),
  /** Records per produce call. */
  CONNECTOR_BATCH_SIZE: env.int(500, 1, 100_000),
  /** Summed record sizes per produce call; stays below the broker's message.max.bytes (1 MiB default). */
  CONNECTOR_BATCH_BYTES: env.int(900_000, 1024, 100 * 1024 * 1024),
  KAFKA_COMPRESSION: env.oneOf(COMPRESSIONS, 'none'),
  KAFKA_REQUEST_TIMEOUT_MS: env.int(5000, 100, 120_000),
  KAFKA_RETRY_MIN_MS: env.int(200, 10, 60_000),
  KAFKA_RETRY_MAX_MS: env.int(5000, 10, 600_000),
  /** Larger payloads are dead-lettered; keep well below Kafka's max request size (base64 adds a third). */
  MAX_PAYLOAD_BYTES: env.int(512 * 1024, 1, 64 * 1024 * 1024),
  /** Original bytes kept whole in a dead letter up to this size; larger ones are cut (with size and SHA-256). */
  DEAD_LETTER_MAX_BYTES: env.int(600_000, 1024, 64 * 1024 * 1024),
  /** Bound on messages held before Kafka acknowledged them; QoS 0 beyond it is dropped and counted. */
  CONNECTOR_MAX_IN_FLIGHT: env.int(10_000, 1, 1_000_000),
  /** Bound on the bytes those messages hold (payloads and records), for every QoS level. */
  CONNECTOR_MAX_IN_FLIGHT_BYTES: env.int(64 * 1024 * 1024, 64 * 1024, 4 * 1024 * 1024 * 1024),
  ...httpFields(9402)
})

export type ConnectorConfig = ReturnType<typeof loadConnectorConfig>

/** The batching settings' earlier names. */
export const aliases: readonly Alias[] = [
  { alias: 'KAFKA_LINGER_MS', name: 'CONNECTOR_BATCH_WAIT_MS' },
  { alias: 'KAFKA_BATCH_SIZE', name: 'CONNECTOR_BATCH_SIZE' },
  { alias: 'KAFKA_BATCH_BYTES', name: 'CONNECTOR_BATCH_BYTES' }
]

export const loadConnectorConfig = configLoader('connector', schema, c => {
  const mqtt = pickMqtt(c)
  const filters = c.MQTT_TOPIC_PATTERN === undefined
    ? [...c.MQTT_TOPICS]
    : c.MQTT_TOPIC_PATTERN.split(',').map(s => s.trim()).filter(s => s.length > 0)
  return {
    mqttUrl: mqtt.url,
    mqttUsername: mqtt.username,
    mqttPassword: mqtt.password,
    mqttTls: tlsFromFiles({ ca: c.MQTT_CA_FILE, cert: c.MQTT_CERT_FILE, key: c.MQTT_KEY_FILE }),
    /** The filters as subscribed (with the `$share/<group>/` prefix when shared). */
    subscriptions: filters.map(f => c.MQTT_SHARED && !f.startsWith('$share/') ? `$share/${c.MQTT_SHARE_GROUP}/${f}` : f),
    clientId: c.CONNECTOR_CLIENT_ID,
    sessionExpirySeconds: c.MQTT_SESSION_EXPIRY_S,
    receiveMaximum: c.MQTT_RECEIVE_MAXIMUM,
    keepaliveSeconds: c.MQTT_KEEPALIVE_S,
    reconnectMinMs: c.MQTT_RECONNECT_MIN_MS,
    reconnectMaxMs: Math.max(c.MQTT_RECONNECT_MAX_MS, c.MQTT_RECONNECT_MIN_MS),
    brokers: pickKafka(c),
    topic: c.KAFKA_TOPIC,
    ...pickDeadLetter(c),
    lingerMs: c.CONNECTOR_BATCH_WAIT_MS,
    batchSize: c.CONNECTOR_BATCH_SIZE,
    batchBytes: c.CONNECTOR_BATCH_BYTES,
    compression: c.KAFKA_COMPRESSION,
    requestTimeoutMs: c.KAFKA_REQUEST_TIMEOUT_MS,
    retryMinMs: c.KAFKA_RETRY_MIN_MS,
    retryMaxMs: Math.max(c.KAFKA_RETRY_MAX_MS, c.KAFKA_RETRY_MIN_MS),
    maxPayloadBytes: c.MAX_PAYLOAD_BYTES,
    deadLetterMaxBytes: c.DEAD_LETTER_MAX_BYTES,
    maxInFlight: c.CONNECTOR_MAX_IN_FLIGHT,
    maxInFlightBytes: c.CONNECTOR_MAX_IN_FLIGHT_BYTES,
    ...pickHttp(c)
  }
}, aliases)
