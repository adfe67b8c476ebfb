import { Counter, createRegistry, Gauge, Histogram, LATENCY_BUCKETS, SIZE_BUCKETS, type Registry } from '../../adapters/metrics.ts'

/** The sink's metrics, named as in docs/monitoring/metrics.md. */
export interface SinkMetrics {
  registry: Registry
  consumed: Counter
  rowsWritten: Counter
  rowsDuplicate: Counter
  batches: Counter<'path'>
  deadLetters: Counter<'reason'>
  batchSize: Histogram
  flushLatency: Histogram
  retries: Counter
  dbUp: Gauge
  endToEnd: Histogram
  ingest: Histogram
  lastWrite: Gauge
  dropped: Counter
  blockedGauge: Gauge
  /** Read at scrape time; the stage points it at its own state. */
  blocked: { seconds: () => number }
}

/** Device time to commit spans clock skew and back-fills, so the buckets reach further. */
const E2E_BUCKETS = [...LATENCY_BUCKETS, 60, 300, 3600]

export function createSinkMetrics (registry: Registry = createRegistry('sink')): SinkMetrics {
  const registers = [registry]
  const blocked = { seconds: (): number => 0 }
  return {
    registry,
    blocked,
    dropped: new Counter({ name: 'f2_sink_dropped_total', help: 'dead letters the broker refused even when bounded (given up, logged)', registers }),
    blockedGauge: new Gauge({ name: 'f2_sink_blocked_seconds', help: 'how long the batch in hand has been failing to be written or dead-lettered (0 while it goes on)', registers, collect () { this.set(blocked.seconds()) } }),
    consumed: new Counter({ name: 'f2_sink_records_consumed_total', help: 'records read from decoded_iot_data', registers }),
    rowsWritten: new Counter({ name: 'f2_sink_rows_written_total', help: 'rows inserted into iot_measurements', registers }),
    rowsDuplicate: new Counter({ name: 'f2_sink_rows_duplicate_total', help: 'rows already present with the same value (replays), skipped', registers }),
    batches: new Counter({ name: 'f2_sink_batches_total', help: 'batches written, by path: copy (straight into the table) or staging (the batch met stored rows)', labelNames: ['path'], registers }),
    deadLetters: new Counter({ name: 'f2_sink_dead_letters_total', help: 'records that can never be written', labelNames: ['reason'], registers }),
    batchSize: new Histogram({ name: 'f2_sink_batch_size', help: 'rows per flush', buckets: SIZE_BUCKETS, registers }),
    flushLatency: new Histogram({ name: 'f2_sink_flush_latency_seconds', help: 'one database transaction', buckets: LATENCY_BUCKETS, registers }),
    retries: new Counter({ name: 'f2_sink_write_retries_total', help: 'flushes retried after a database error', registers }),
    dbUp: new Gauge({ name: 'f2_sink_db_up', help: '1 while the last flush succeeded', registers }),
    endToEnd: new Histogram({ name: 'f2_sink_end_to_end_latency_seconds', help: 'device timestamp -> database commit', buckets: E2E_BUCKETS, registers }),
    ingest: new Histogram({ name: 'f2_sink_ingest_latency_seconds', help: 'connector receipt -> database commit', buckets: E2E_BUCKETS, registers }),
    lastWrite: new Gauge({ name: 'f2_sink_last_write_timestamp_seconds', help: 'Unix time of the last committed flush', registers })
  }
}
