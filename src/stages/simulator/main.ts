import { parseArgs } from 'node:util'
import { redact } from '../../adapters/config.ts'
import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import { runService } from '../../adapters/lifecycle.ts'
import { createLogger } from '../../adapters/logger.ts'
import { createRegistry } from '../../adapters/metrics.ts'
import { loadSimulatorConfig } from './config.ts'
import { simulatorMetrics } from './metrics.ts'
import { createSimulator } from './simulator.ts'

const USAGE = `usage: node src/cli.ts simulator [options]

A fleet of simulated F2 controllers speaking f2-protocol.md.
  --devices N      generated controllers (MACs f2f2…), up to 50000        (SIM_DEVICES, default 3)
  --seed S         reproducible fleet and traffic                        (SIM_SEED, default 1)
  --interval S     seconds between one sensor's readings                 (PUBLISH_INTERVAL, default 30)
  --rate R         load mode: R messages/s across the fleet              (SIM_RATE)
  --count N        send exactly N messages, print a JSON report, exit    (SIM_COUNT)
  --duration S     run the load for S seconds, print a JSON report, exit (SIM_DURATION_S)
  --qos 0|1|2      publish QoS                                           (SIM_QOS, default 1)
  --no-commands    do not subscribe to cmnd/
Broker: MQTT_BROKER, MQTT_PORT. Metrics on HTTP_PORT (default 9401) when running as a service.
`

export async function run (argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      devices: { type: 'string' },
      seed: { type: 'string' },
      interval: { type: 'string' },
      rate: { type: 'string' },
      count: { type: 'string' },
      duration: { type: 'string' },
      qos: { type: 'string' },
      'no-commands': { type: 'boolean' }
    }
  })
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  // Flags win over the environment; both go through the same schema.
  const env: Record<string, string | undefined> = { ...process.env }
  const flag = (name: string, value: string | undefined): void => { if (value !== undefined) env[name] = value }
  flag('SIM_DEVICES', values.devices)
  flag('SIM_SEED', values.seed)
  flag('PUBLISH_INTERVAL', values.interval)
  flag('SIM_RATE', values.rate)
  flag('SIM_COUNT', values.count)
  flag('SIM_DURATION_S', values.duration)
  flag('SIM_QOS', values.qos)
  if (values['no-commands'] === true) env.SIM_COMMANDS = 'false'
  const config = loadSimulatorConfig(env)
  const logger = createLogger('simulator')
  logger.info({ config: redact(config) }, 'simulator configuration')
  const registry = createRegistry('simulator')
  const sim = createSimulator({ config, logger, metrics: simulatorMetrics(registry) })

  if (config.count > 0 || config.durationMs > 0) {
    await sim.start()
    const report = await sim.runLoad({ rate: config.rate, count: config.count > 0 ? config.count : undefined, durationMs: config.durationMs })
    await sim.stop()
    process.stdout.write(JSON.stringify({ devices: sim.fleet.length, qos: config.qos, targetRate: config.rate, ...report }) + '\n')
    return report.failed === 0 ? 0 : 1
  }

  // Service mode: every sensor reports once per interval (plus events), or the --rate load.
  const sensors = sim.fleet.reduce((n, c) => n + c.connectors.reduce((k, cn) => k + Math.max(1, cn.sensors.length), 0), 0)
  const rate = config.rate > 0 ? config.rate : sensors / (config.intervalMs / 1000)
  const abort = new AbortController()
  let loop: Promise<unknown> | undefined
  let http: HttpHandle | undefined
  return runService({
    start: async () => {
      http = await startHttp({ host: config.httpHost, port: config.httpPort, registry, readiness: () => ({ ready: sim.ready(), checks: { mqtt: sim.ready() } }) })
      await sim.start()
      logger.info({ devices: sim.fleet.length, rate }, 'simulating')
      loop = sim.runLoad({ rate, signal: abort.signal })
    },
    stop: async () => {
      abort.abort()
      await loop
      await sim.stop()
      await http?.close()
    }
  }, { name: 'simulator', logger })
}
