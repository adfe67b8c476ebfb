import { parseArgs } from 'node:util'
import { redact } from '../../adapters/config.ts'
import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import { runService } from '../../adapters/lifecycle.ts'
import { createLogger } from '../../adapters/logger.ts'
import { createRegistry } from '../../adapters/metrics.ts'
import { loadSimulatorConfig } from './config.ts'
import { simulatorMetrics } from './metrics.ts'
import type { LoadedFleet } from './registry-fleet.ts'
import { readFleet, runOneShot, SimulatorStage } from './stage.ts'

const USAGE = `usage: node src/cli.ts simulator [options]

A fleet of simulated F2 controllers speaking f2-protocol.md. By default the registry's
controllers (POSTGRES_HOST/PORT/DB/USER/PASSWORD), each sensor framed with its own data points.
  --devices N      instead, N generated controllers (MACs f2f2…), up to 50000, with the
                   registry's sensor templates                           (SIM_DEVICES, default 0)
  --register       register the generated fleet in the registry          (SIM_REGISTER)
  --seed S         reproducible fleet and traffic                        (SIM_SEED, default 1)
  --interval S     seconds between one sensor's readings                 (PUBLISH_INTERVAL, default 30)
  --rate R         load mode: R messages/s across the fleet              (SIM_RATE)
  --count N        send exactly N messages, print a JSON report, exit    (SIM_COUNT)
  --duration S     run the load for S seconds, print a JSON report, exit (SIM_DURATION_S)
  --qos 0|1|2      publish QoS                                           (SIM_QOS, default 1)
  --no-commands    do not subscribe to cmnd/
An unreachable registry is retried with back-off (one-shot runs give up after SIM_REGISTRY_WAIT_S, default 30).
As a service, SIGHUP re-reads the fleet from the registry and continues with it; if the registry
cannot be read, the current fleet keeps running.
Broker: each controller connects with its own account (client id = username = f2-<mac>), over
TLS to MQTT_BROKER:MQTT_TLS_PASSWORD_PORT (default 8884, CA in MQTT_CA_FILE), or with
SIM_TRANSPORT=plain to MQTT_BROKER:MQTT_PORT. The accounts are given as the admin
(MQTT_ADMIN_USERNAME/MQTT_ADMIN_PASSWORD) or read from SIM_CREDENTIALS_FILE. Metrics on HTTP_PORT (default 9401) when running as a service.
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
      register: { type: 'boolean' },
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
  if (values.register === true) env.SIM_REGISTER = 'true'
  const config = loadSimulatorConfig(env)
  const logger = createLogger('simulator')
  logger.info({ config: redact(config) }, 'simulator configuration')
  const registry = createRegistry('simulator')
  const metrics = simulatorMetrics(registry)

  if (config.count > 0 || config.durationMs > 0) {
    let loaded: LoadedFleet
    try {
      loaded = await readFleet({ config, logger, metrics }, config.registryWaitMs)
    } catch (err) {
      logger.error({ err }, 'no fleet')
      process.stderr.write(`simulator: ${(err as Error).message}\n`)
      return 1
    }
    const report = await runOneShot({ config, logger, metrics }, loaded)
    process.stdout.write(JSON.stringify(report) + '\n')
    return report.failed === 0 ? 0 : 1
  }

  const stage = new SimulatorStage({ config, logger, metrics })
  let http: HttpHandle | undefined
  const onHangup = (): void => {
    logger.info('SIGHUP: reloading the fleet from the registry')
    void stage.reload()
  }
  // Before anything can send SIGHUP: its default action ends the process.
  process.on('SIGHUP', onHangup)
  return runService({
    start: async () => {
      http = await startHttp({ host: config.httpHost, port: config.httpPort, registry, readiness: () => stage.readiness() })
      await stage.start()
    },
    stop: async deadlineMs => {
      try {
        await stage.stop(deadlineMs)
        await http?.close()
      } finally {
        // Only once stopped, for the same reason: a SIGHUP while stopping must not end the process.
        process.off('SIGHUP', onHangup)
      }
    }
  }, { name: 'simulator', logger })
}
