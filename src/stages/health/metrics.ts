import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../adapters/metrics.ts'

/** The health monitor's own series (docs/monitoring/metrics.md, "Health monitor"). */
export interface HealthMetrics {
  componentUp: Gauge<'component'>
  checkDuration: Gauge<'component'>
  probes: Counter<'component' | 'result'>
  probeLatency: Histogram<'component'>
  consumerLag: Gauge<'group' | 'topic'>
  devicesSilent: Gauge
  devicesSeen: Gauge
  collections: Counter<'collector' | 'result'>
  brokerRefusals: Counter<'kind'>
}

export function createHealthMetrics (registry: Registry): HealthMetrics {
  const registers = [registry]
  return {
    componentUp: new Gauge({ name: 'f2_health_component_up', help: '1 when the last probe of the component succeeded', labelNames: ['component'], registers }),
    checkDuration: new Gauge({ name: 'f2_health_check_duration_seconds', help: 'Duration of the last probe of the component', labelNames: ['component'], registers }),
    probes: new Counter({ name: 'f2_health_probes_total', help: 'Probes run, by outcome (ok, failed, timeout)', labelNames: ['component', 'result'], registers }),
    probeLatency: new Histogram({ name: 'f2_health_probe_latency_seconds', help: 'Duration of each probe', labelNames: ['component'], buckets: LATENCY_BUCKETS, registers }),
    consumerLag: new Gauge({ name: 'f2_health_consumer_lag', help: 'Records not yet consumed by the group on the topic', labelNames: ['group', 'topic'], registers }),
    devicesSilent: new Gauge({ name: 'f2_health_devices_silent', help: 'Controllers seen in the seen-window with no reading for longer than the silence threshold', registers }),
    devicesSeen: new Gauge({ name: 'f2_health_devices_seen', help: 'Controllers with at least one reading in the seen-window', registers }),
    brokerRefusals: new Counter({ name: 'f2_health_broker_refusals_total', help: 'Clients the broker refused or cut, from its log: auth_failed, tls_failed, publish_denied, revoked', labelNames: ['kind'], registers }),
    collections: new Counter({ name: 'f2_health_collections_total', help: 'Per-cycle collections (device activity, service scrapes), by outcome (ok, failed)', labelNames: ['collector', 'result'], registers })
  }
}
