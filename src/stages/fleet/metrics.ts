import { Counter, createRegistry, Gauge, Histogram, LATENCY_BUCKETS, SIZE_BUCKETS, type Registry } from '../../adapters/metrics.ts'

/**
 * The fleet stage's metrics, named as in docs/monitoring/metrics.md. `f2_devices` and the
 * per-controller `f2_device_*` series carry no stage prefix: they describe the fleet, not the
 * stage. Per-controller series: `f2_device_offline` exists only while a controller is offline
 * (so its cardinality is the number of offline controllers); `f2_device_last_seen_timestamp_seconds`
 * exists for every controller (FLEET_DEVICE_METRICS=all) or only for offline ones ('offline').
 */
export interface FleetMetrics {
  registry: Registry
  devices: Gauge<'state'>
  deviceOffline: Gauge<'device_id' | 'reason'>
  deviceLastSeen: Gauge<'device_id'>
  consumed: Counter<'topic'>
  unattributed: Counter<'topic'>
  transitions: Counter<'state' | 'reason'>
  stateRecords: Counter
  deadLettersStored: Counter
  flushLatency: Histogram
  flushSize: Histogram
  retries: Counter<'target'>
  dbUp: Gauge
  registryUp: Gauge
  lastFlush: Gauge
  upstreamBehind: Gauge
}

export function createFleetMetrics (registry: Registry = createRegistry('fleet')): FleetMetrics {
  const registers = [registry]
  return {
    registry,
    devices: new Gauge({ name: 'f2_devices', help: 'controllers by state (online, offline)', labelNames: ['state'], registers }),
    deviceOffline: new Gauge({ name: 'f2_device_offline', help: '1 for each offline controller (no series while online); reason silent or will', labelNames: ['device_id', 'reason'], registers }),
    deviceLastSeen: new Gauge({ name: 'f2_device_last_seen_timestamp_seconds', help: 'Unix time of the newest message from the controller (connector receipt)', labelNames: ['device_id'], registers }),
    consumed: new Counter({ name: 'f2_fleet_records_consumed_total', help: 'records read, by topic', labelNames: ['topic'], registers }),
    unattributed: new Counter({ name: 'f2_fleet_records_unattributed_total', help: 'records, or activities within a record, that name no controller (or are unreadable), by topic', labelNames: ['topic'], registers }),
    transitions: new Counter({ name: 'f2_fleet_transitions_total', help: 'online/offline transitions, by new state and reason', labelNames: ['state', 'reason'], registers }),
    stateRecords: new Counter({ name: 'f2_fleet_state_records_written_total', help: 'controller states written (table row and device_state record)', registers }),
    deadLettersStored: new Counter({ name: 'f2_fleet_dead_letters_stored_total', help: 'dead letters written to the dead_letters table', registers }),
    flushLatency: new Histogram({ name: 'f2_fleet_flush_latency_seconds', help: 'one flush: database transaction and device_state records acknowledged', buckets: LATENCY_BUCKETS, registers }),
    flushSize: new Histogram({ name: 'f2_fleet_flush_size', help: 'controller states per flush', buckets: SIZE_BUCKETS, registers }),
    retries: new Counter({ name: 'f2_fleet_flush_retries_total', help: 'flushes retried, by what failed (database, kafka)', labelNames: ['target'], registers }),
    dbUp: new Gauge({ name: 'f2_fleet_db_up', help: '1 while the last flush reached the database', registers }),
    registryUp: new Gauge({ name: 'f2_fleet_registry_up', help: '1 while the last registry read succeeded', registers }),
    lastFlush: new Gauge({ name: 'f2_fleet_last_flush_timestamp_seconds', help: 'Unix time of the last completed flush', registers }),
    upstreamBehind: new Gauge({ name: 'f2_fleet_upstream_behind', help: '1 while the processor is behind on raw_iot_data: silence is then judged by the newest receipt time read', registers })
  }
}
