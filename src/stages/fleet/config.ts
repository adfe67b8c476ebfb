import { z } from 'zod'
import { configLoader, env, httpFields, pickHttp } from '../../adapters/config.ts'
import { consumerFields, pickConsumer } from '../../adapters/connections/kafka.ts'
import { pickPostgres, postgresFields } from '../../adapters/connections/postgres.ts'
import { DB_ROLES } from '../../storage/roles.ts'

export const schema = z.object({
  // Records, not messages: an activity record carries a processor batch's worth of messages (at
  // most 256 KiB), so 400 buffered records bound the buffer at about 100 MiB, typically far less.
  ...consumerFields('FLEET', { group: 'iot-fleet-state', batchSize: 200, batchWaitMs: 500, batchWaitLimitMs: 10_000, maxBuffered: 400 }),
  /** One record per raw message, written by the processor (src/core/activity.ts). */
  KAFKA_ACTIVITY_TOPIC: env.string('device_activity'),
  /**
   * The processor's input and consumer group: while that group is behind on this topic, the
   * fleet judges silence by the newest receipt time it has read, not the wall clock (a stalled
   * processor must not make sending controllers look offline). Empty group: always the wall clock.
   */
  KAFKA_RAW_TOPIC: env.string('raw_iot_data'),
  FLEET_UPSTREAM_GROUP: env.string('iot-processor'),
  /** How often the processor group's lag is read (ms). */
  FLEET_UPSTREAM_CHECK_MS: env.int(2000, 100, 60_000),
  KAFKA_DEAD_LETTER_TOPIC: env.string('iot_dead_letter'),
  /** The compacted topic of the latest state per controller (key = MAC). */
  KAFKA_STATE_TOPIC: env.string('device_state'),
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
  /** Least bytes a fetch waits for (up to FLEET_BATCH_WAIT_MS, at most 500 ms): fewer, fuller fetches. */
  FLEET_FETCH_MIN_BYTES: env.int(262_144, 1, 52_428_800),
  FLEET_RETRY_MAX_MS: env.int(10_000, 10, 600_000),
  ...postgresFields('timeseries', DB_ROLES.timeseries.fleet),
  ...postgresFields('registry', DB_ROLES.registry.reader),
  ...httpFields(9405)
})

export type FleetConfig = ReturnType<typeof loadFleetConfig>

export const loadFleetConfig = configLoader('fleet', schema, c => ({
  ...pickConsumer('FLEET', c),
  activityTopic: c.KAFKA_ACTIVITY_TOPIC,
  rawTopic: c.KAFKA_RAW_TOPIC,
  upstreamGroup: c.FLEET_UPSTREAM_GROUP === '' ? null : c.FLEET_UPSTREAM_GROUP,
  upstreamCheckMs: c.FLEET_UPSTREAM_CHECK_MS,
  deadLetterTopic: c.KAFKA_DEAD_LETTER_TOPIC,
  stateTopic: c.KAFKA_STATE_TOPIC,
  defaultIntervalS: c.FLEET_EXPECTED_INTERVAL_S,
  offlineAfterIntervals: c.FLEET_OFFLINE_AFTER_INTERVALS,
  flushIntervalMs: c.FLEET_FLUSH_INTERVAL_MS,
  stateWritesPerS: c.FLEET_STATE_WRITES_PER_S,
  fetchMinBytes: c.FLEET_FETCH_MIN_BYTES,
  checkIntervalMs: c.FLEET_CHECK_INTERVAL_MS,
  registryRefreshMs: c.FLEET_REGISTRY_REFRESH_S * 1000,
  maxValuesPerDevice: c.FLEET_MAX_VALUES_PER_DEVICE,
  deviceMetrics: c.FLEET_DEVICE_METRICS,
  retryMaxMs: c.FLEET_RETRY_MAX_MS,
  timeseries: pickPostgres('timeseries', c),
  registry: pickPostgres('registry', c),
  ...pickHttp(c)
}))
