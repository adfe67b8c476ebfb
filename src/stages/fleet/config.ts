import { hostname } from 'node:os'
import { z } from 'zod'
import { env, loadConfig, type Env } from '../../adapters/config.ts'
import { kafkaFields, pickKafka } from '../../adapters/connections/kafka.ts'
import { pickPostgres, postgresFields, type PostgresConnection } from '../../adapters/connections/postgres.ts'
import { DB_ROLES } from '../../storage/roles.ts'

export const schema = z.object({
  ...kafkaFields,
  KAFKA_RAW_TOPIC: env.string('raw_iot_data'),
  KAFKA_DECODED_TOPIC: env.string('decoded_iot_data'),
  KAFKA_DEAD_LETTER_TOPIC: env.string('iot_dead_letter'),
  /** The compacted topic of the latest state per controller (key = MAC). */
  KAFKA_STATE_TOPIC: env.string('device_state'),
  KAFKA_CONSUMER_GROUP: env.string('iot-fleet-state'),
  FLEET_INSTANCE_ID: env.string(`fleet-${hostname()}`),
  /** Expected reporting interval of a controller the registry sets none for, in seconds. */
  FLEET_EXPECTED_INTERVAL_S: env.int(60, 1, 604_800),
  /** A controller is offline after this many expected intervals without a message. */
  FLEET_OFFLINE_AFTER_INTERVALS: env.number(3, 1),
  /**
   * Longest time a changed controller waits to be written (ms). Online/offline changes are
   * written at once; this bounds how stale `last_seen`, last values and counts may be.
   */
  FLEET_FLUSH_INTERVAL_MS: env.int(15_000, 100, 300_000),
  /**
   * Most controllers' states written per second on average (table and topic). A fleet larger
   * than FLEET_FLUSH_INTERVAL_MS allows stretches the regular flush: 10 000 controllers at 250
   * per second are written every 40 s. Keeps the cost of the state bounded as the fleet grows.
   */
  FLEET_STATE_WRITES_PER_S: env.int(250, 1, 1_000_000),
  /** How often silent controllers are looked for (ms). */
  FLEET_CHECK_INTERVAL_MS: env.int(500, 50, 60_000),
  /** How often the registry's controllers and intervals are read again, besides NOTIFY (s). */
  FLEET_REGISTRY_REFRESH_S: env.int(300, 1, 86_400),
  /** Most distinct data points kept per controller. */
  FLEET_MAX_VALUES_PER_DEVICE: env.int(64, 1, 10_000),
  /**
   * Per-controller series on /metrics: 'all' exports every controller's last-seen time;
   * 'offline' only the offline controllers' (for very large fleets). `f2_device_offline` is
   * exported for offline controllers in both.
   */
  FLEET_DEVICE_METRICS: env.oneOf(['all', 'offline'] as const, 'all'),
  FLEET_BATCH_SIZE: env.int(5000, 1, 100_000),
  FLEET_BATCH_WAIT_MS: env.int(500, 0, 10_000),
  /** Least bytes a fetch waits for (up to FLEET_BATCH_WAIT_MS, at most 500 ms): fewer, fuller fetches. */
  FLEET_FETCH_MIN_BYTES: env.int(262_144, 1, 52_428_800),
  FLEET_MAX_BUFFERED: env.int(20_000, 1, 1_000_000),
  KAFKA_SESSION_TIMEOUT_MS: env.int(10_000, 1000, 300_000),
  FLEET_RETRY_MAX_MS: env.int(10_000, 10, 600_000),
  ...postgresFields('timeseries', DB_ROLES.timeseries.fleet),
  ...postgresFields('registry', DB_ROLES.registry.reader),
  HTTP_HOST: env.string('127.0.0.1'),
  HTTP_PORT: env.int(9405, 0, 65535)
})

export interface FleetConfig {
  brokers: string[]
  rawTopic: string
  decodedTopic: string
  deadLetterTopic: string
  stateTopic: string
  groupId: string
  instanceId: string
  defaultIntervalS: number
  offlineAfterIntervals: number
  flushIntervalMs: number
  stateWritesPerS: number
  checkIntervalMs: number
  registryRefreshMs: number
  maxValuesPerDevice: number
  deviceMetrics: 'all' | 'offline'
  batchSize: number
  batchWaitMs: number
  fetchMinBytes: number
  maxBuffered: number
  sessionTimeoutMs: number
  retryMaxMs: number
  timeseries: PostgresConnection
  registry: PostgresConnection
  httpHost: string
  httpPort: number
}

export function loadFleetConfig (source: Env = process.env): Readonly<FleetConfig> {
  const c = loadConfig('fleet', schema, source)
  return Object.freeze({
    brokers: pickKafka(c),
    rawTopic: c.KAFKA_RAW_TOPIC,
    decodedTopic: c.KAFKA_DECODED_TOPIC,
    deadLetterTopic: c.KAFKA_DEAD_LETTER_TOPIC,
    stateTopic: c.KAFKA_STATE_TOPIC,
    groupId: c.KAFKA_CONSUMER_GROUP,
    instanceId: c.FLEET_INSTANCE_ID,
    defaultIntervalS: c.FLEET_EXPECTED_INTERVAL_S,
    offlineAfterIntervals: c.FLEET_OFFLINE_AFTER_INTERVALS,
    flushIntervalMs: c.FLEET_FLUSH_INTERVAL_MS,
    stateWritesPerS: c.FLEET_STATE_WRITES_PER_S,
    checkIntervalMs: c.FLEET_CHECK_INTERVAL_MS,
    registryRefreshMs: c.FLEET_REGISTRY_REFRESH_S * 1000,
    maxValuesPerDevice: c.FLEET_MAX_VALUES_PER_DEVICE,
    deviceMetrics: c.FLEET_DEVICE_METRICS,
    batchSize: c.FLEET_BATCH_SIZE,
    batchWaitMs: c.FLEET_BATCH_WAIT_MS,
    fetchMinBytes: c.FLEET_FETCH_MIN_BYTES,
    maxBuffered: Math.max(c.FLEET_MAX_BUFFERED, c.FLEET_BATCH_SIZE),
    sessionTimeoutMs: c.KAFKA_SESSION_TIMEOUT_MS,
    retryMaxMs: c.FLEET_RETRY_MAX_MS,
    timeseries: pickPostgres('timeseries', c),
    registry: pickPostgres('registry', c),
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT
  })
}
