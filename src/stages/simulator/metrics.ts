import { Counter, Gauge, Histogram, LATENCY_BUCKETS, type Registry } from '../../adapters/metrics.ts'

/** The simulator's metrics, named as docs/monitoring/metrics.md lists them. */
export function simulatorMetrics (registry: Registry) {
  const registers = [registry]
  return {
    sent: new Counter({ name: 'f2_simulator_messages_sent_total', help: 'messages published and acknowledged by the broker', labelNames: ['kind', 'component'] as const, registers }),
    publishErrors: new Counter({ name: 'f2_simulator_publish_errors_total', help: 'publishes that failed', registers }),
    commands: new Counter({ name: 'f2_simulator_commands_handled_total', help: 'cmnd/ messages obeyed or refused', labelNames: ['component', 'result'] as const, registers }),
    fleetReloads: new Counter({ name: 'f2_simulator_fleet_reloads_total', help: 'fleet reloads from the registry on SIGHUP', labelNames: ['result'] as const, registers }),
    devices: new Gauge({ name: 'f2_simulator_devices', help: 'controllers simulated', registers }),
    connected: new Gauge({ name: 'f2_simulator_connected_devices', help: 'simulated controllers connected to the broker (one connection each)', registers }),
    publishLatency: new Histogram({ name: 'f2_simulator_publish_latency_seconds', help: 'publish to broker acknowledgement', buckets: LATENCY_BUCKETS, registers })
  }
}

export type SimulatorMetrics = ReturnType<typeof simulatorMetrics>
