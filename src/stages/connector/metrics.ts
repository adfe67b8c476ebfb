import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../adapters/metrics.ts'

/** The connector's metrics, named as docs/monitoring/metrics.md lists them. */
export function connectorMetrics (registry: Registry) {
  const registers = [registry]
  /** Read at scrape time; the stage points it at its forwarder. */
  const blocked = { seconds: (): number => 0 }
  return {
    blocked,
    received: new Counter({ name: 'f2_connector_messages_received_total', help: 'MQTT messages received', labelNames: ['kind'] as const, registers }),
    forwarded: new Counter({ name: 'f2_connector_messages_forwarded_total', help: 'records acknowledged by Kafka, then acknowledged to MQTT', registers }),
    redelivered: new Counter({ name: 'f2_connector_redelivered_total', help: 'received messages flagged DUP by the broker (redeliveries after a lost acknowledgement)', registers }),
    retained: new Counter({ name: 'f2_connector_retained_total', help: 'received messages flagged as retained (marked, forwarded)', registers }),
    deadLetters: new Counter({ name: 'f2_connector_dead_letters_total', help: 'messages sent to the dead-letter topic', labelNames: ['reason'] as const, registers }),
    inFlight: new Gauge({ name: 'f2_connector_in_flight', help: 'messages received but not yet acknowledged to MQTT', registers }),
    produceLatency: new Histogram({ name: 'f2_connector_produce_latency_seconds', help: 'Kafka produce call to acknowledgement', buckets: LATENCY_BUCKETS, registers }),
    produceErrors: new Counter({ name: 'f2_connector_produce_errors_total', help: 'failed produce attempts (retried)', registers }),
    mqttConnected: new Gauge({ name: 'f2_connector_mqtt_connected', help: '1 while connected to the broker', registers }),
    kafkaConnected: new Gauge({ name: 'f2_connector_kafka_connected', help: '1 while the last produce or metadata call succeeded', registers }),
    inFlightBytes: new Gauge({ name: 'f2_connector_in_flight_bytes', help: 'bytes held by messages received but not yet acknowledged (payloads and records)', registers }),
    dropped: new Counter({ name: 'f2_connector_dropped_total', help: 'messages given up without a record: QoS 0 beyond the in-flight bound, or a dead letter the broker refused', labelNames: ['reason'] as const, registers }),
    produceBlocked: new Gauge({ name: 'f2_connector_produce_blocked_seconds', help: 'age of the produce in hand not yet acknowledged by Kafka (about 0 while produces succeed; grows while Kafka fails or hangs)', registers, collect () { this.set(blocked.seconds()) } }),
    mqttReconnects: new Counter({ name: 'f2_connector_mqtt_reconnects_total', help: 'reconnections to the broker', registers })
  }
}

export type ConnectorMetrics = ReturnType<typeof connectorMetrics>
