import { Counter, createRegistry, Gauge, Histogram, LATENCY_BUCKETS, SIZE_BUCKETS, type Registry } from '../../adapters/metrics.ts'

/** The processor's metrics, named as in docs/monitoring/metrics.md. */
export interface ProcessorMetrics {
  registry: Registry
  consumed: Counter
  produced: Counter<'component'>
  deadLetters: Counter<'reason'>
  decodeLatency: Histogram
  cacheHits: Counter
  cacheMisses: Counter
  registryErrors: Counter
  commitLatency: Histogram
  batchSize: Histogram
  batchFailures: Counter<'reason'>
  replayed: Counter<'reason'>
  dropped: Counter
  produceBlocked: Gauge
  /** Read at scrape time; the stage points it at its own state. */
  blocked: { seconds: () => number }
  presence: Counter<'state'>
}

export function createProcessorMetrics (registry: Registry = createRegistry('processor')): ProcessorMetrics {
  const registers = [registry]
  const blocked = { seconds: (): number => 0 }
  return {
    registry,
    blocked,
    dropped: new Counter({ name: 'f2_processor_dropped_total', help: 'dead letters the broker refused even when bounded (given up, logged)', registers }),
    produceBlocked: new Gauge({ name: 'f2_processor_produce_blocked_seconds', help: 'how long batch writes have been failing (0 while they succeed)', registers, collect () { this.set(blocked.seconds()) } }),
    consumed: new Counter({ name: 'f2_processor_records_consumed_total', help: 'records read from raw_iot_data', registers }),
    produced: new Counter({ name: 'f2_processor_measurements_produced_total', help: 'measurements written to decoded_iot_data', labelNames: ['component'], registers }),
    deadLetters: new Counter({ name: 'f2_processor_dead_letters_total', help: 'records (or data points) sent to iot_dead_letter', labelNames: ['reason'], registers }),
    decodeLatency: new Histogram({ name: 'f2_processor_decode_latency_seconds', help: 'decode of one record (registry lookup included)', buckets: [0.00001, 0.00005, 0.0001, 0.0005, ...LATENCY_BUCKETS], registers }),
    cacheHits: new Counter({ name: 'f2_processor_registry_cache_hits_total', help: 'registry look-ups served from memory', registers }),
    cacheMisses: new Counter({ name: 'f2_processor_registry_cache_misses_total', help: 'registry look-ups that queried PostgreSQL', registers }),
    registryErrors: new Counter({ name: 'f2_processor_registry_errors_total', help: 'registry look-ups that failed (retried, never dead-lettered)', registers }),
    commitLatency: new Histogram({ name: 'f2_processor_commit_latency_seconds', help: 'batch outputs acknowledged -> offsets committed', buckets: LATENCY_BUCKETS, registers }),
    batchSize: new Histogram({ name: 'f2_processor_batch_size', help: 'records per processed batch', buckets: SIZE_BUCKETS, registers }),
    batchFailures: new Counter({ name: 'f2_processor_batch_retries_total', help: 'batches retried after a Kafka or registry error (nothing committed)', labelNames: ['reason'], registers }),
    replayed: new Counter({ name: 'f2_processor_replayed_total', help: 'dead letters fed back by the replay command', labelNames: ['reason'], registers }),
    presence: new Counter({ name: 'f2_processor_presence_messages_total', help: 'presence messages (tele/f2-<mac>/LWT) recognised: no reading, no dead letter', labelNames: ['state'], registers })
  }
}
