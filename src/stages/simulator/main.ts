import { parseArgs } from 'node:util'
import { redact } from '../../adapters/config.ts'
import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import { runService } from '../../adapters/lifecycle.ts'
import { createLogger } from '../../adapters/logger.ts'
import { createRegistry } from '../../adapters/metrics.ts'
import { prepareAccess, type AccessFor } from './access.ts'
import { loadSimulatorConfig } from './config.ts'
import { simulatorMetrics } from './metrics.ts'
import { loadFleet, type LoadedFleet } from './registry-fleet.ts'
import { createSimulator, type Simulator } from './simulator.ts'

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
  const oneShot = config.count > 0 || config.durationMs > 0
  const abort = new AbortController()
  const load = async (waitMs: number): Promise<LoadedFleet> => {
    const loaded = await loadFleet({
      devices: config.devices,
      seed: config.seed,
      register: config.register,
      registry: config.registry,
      logger,
      waitMs,
      signal: abort.signal,
      // Paced: every sensor reports once per interval, so its controller at least as often.
      ...(config.rate === 0 ? { intervalS: Math.max(1, Math.ceil(config.intervalMs / 1000)) } : {})
    })
    if (loaded.skipped.length > 0) logger.warn({ skipped: loaded.skipped.slice(0, 20), count: loaded.skipped.length }, 'registry sensors left out (they cannot be framed so that they decode)')
    return loaded
  }
  const counts = ({ fleet }: LoadedFleet): { controllers: number, sensors: number } =>
    ({ controllers: fleet.length, sensors: fleet.reduce((n, c) => n + c.connectors.reduce((k, cn) => k + cn.sensors.length, 0), 0) })

  if (oneShot) {
    let loaded: LoadedFleet
    try {
      loaded = await load(config.registryWaitMs)
    } catch (err) {
      logger.error({ err }, 'no fleet')
      process.stderr.write(`simulator: ${(err as Error).message}\n`)
      return 1
    }
    logger.info({ source: loaded.source, ...counts(loaded) }, 'fleet loaded')
    const sim = createSimulator({ config, logger, metrics, fleet: loaded.fleet, access: await prepareAccess(config, loaded.fleet.map(c => c.mac), logger) })
    await sim.start()
    const report = await sim.runLoad({ rate: config.rate, count: config.count > 0 ? config.count : undefined, durationMs: config.durationMs })
    await sim.stop()
    process.stdout.write(JSON.stringify({ devices: sim.fleet.length, qos: config.qos, targetRate: config.rate, ...report }) + '\n')
    return report.failed === 0 ? 0 : 1
  }

  // Service mode: every sensor reports once per interval (events in between), or the --rate load.
  let sim: Simulator | undefined
  let starting: Promise<void> | undefined
  let loop: Promise<unknown> | undefined
  let generation: AbortController | undefined
  let http: HttpHandle | undefined
  const publish = (s: Simulator): void => {
    // Its own controller, so a reload can end this loop without shutting the service down.
    generation = new AbortController()
    const signal = AbortSignal.any([abort.signal, generation.signal])
    loop = config.rate > 0
      ? s.runLoad({ rate: config.rate, signal })
      : s.runPaced({ intervalMs: config.intervalMs, signal })
  }
  const boot = async (): Promise<void> => {
    http = await startHttp({
      host: config.httpHost,
      port: config.httpPort,
      registry,
      readiness: () => ({ ready: sim?.ready() ?? false, checks: { fleet: sim !== undefined, mqtt: sim?.ready() ?? false } })
    })
    let loaded: LoadedFleet
    try {
      loaded = await load(Number.POSITIVE_INFINITY)
    } catch (err) {
      if (abort.signal.aborted) return
      throw err
    }
    if (abort.signal.aborted) return
    logger.info({ source: loaded.source, ...counts(loaded) }, 'fleet loaded')
    sim = createSimulator({ config, logger, metrics, fleet: loaded.fleet, access: await prepareAccess(config, loaded.fleet.map(c => c.mac), logger) })
    await sim.start()
    if (abort.signal.aborted) return
    logger.info({ devices: sim.fleet.length, intervalS: config.intervalMs / 1000, rate: config.rate }, 'simulating')
    publish(sim)
  }

  // The new fleet is read before the old one stops, so a registry that cannot be read (one
  // attempt: the operator can send SIGHUP again) leaves the running fleet untouched.
  const reload = async (): Promise<void> => {
    await starting?.catch(() => {})
    if (sim === undefined || abort.signal.aborted) return
    let loaded: LoadedFleet
    try {
      loaded = await load(0)
    } catch (err) {
      if (abort.signal.aborted) return
      metrics.fleetReloads.inc({ result: 'failed' })
      logger.warn({ err }, 'fleet reload failed, the previous fleet keeps running')
      return
    }
    if (abort.signal.aborted) return
    let access: AccessFor
    try {
      access = await prepareAccess(config, loaded.fleet.map(c => c.mac), logger)
    } catch (err) {
      metrics.fleetReloads.inc({ result: 'failed' })
      logger.warn({ err }, 'broker accounts for the reloaded fleet failed, the previous fleet keeps running')
      return
    }
    generation?.abort()
    await loop
    // Stopped before the next one starts: both would connect with the same MQTT client ids.
    await sim.stop()
    sim = undefined
    if (abort.signal.aborted) return
    sim = createSimulator({ config, logger, metrics, fleet: loaded.fleet, access })
    // Unlike at boot, a broker that is down is no reason to stop: the client keeps reconnecting
    // (and subscribing) in the background, as through any outage.
    await sim.start().catch((err: unknown) => { logger.warn({ err }, 'MQTT not connected after the fleet reload, publishing resumes once it is') })
    if (abort.signal.aborted) return
    publish(sim)
    metrics.fleetReloads.inc({ result: 'ok' })
    logger.info(counts(loaded), 'fleet reloaded')
  }
  let reloading: Promise<void> | undefined
  let again = false
  const onHangup = (): void => {
    logger.info('SIGHUP: reloading the fleet from the registry')
    if (reloading !== undefined) {
      again = true
      return
    }
    reloading = (async () => {
      do {
        again = false
        await reload()
      } while (again)
    })()
      .catch((err: unknown) => { logger.error({ err }, 'fleet reload failed') })
      .finally(() => { reloading = undefined })
  }
  // Before anything can send SIGHUP: its default action ends the process.
  process.on('SIGHUP', onHangup)

  return runService({
    start: async () => {
      starting = boot()
      await starting
    },
    stop: async () => {
      abort.abort()
      try {
        await starting?.catch(() => {})
        await reloading
        await loop
        await sim?.stop()
        await http?.close()
      } finally {
        // Only once stopped, for the same reason: a SIGHUP while stopping must not end the process.
        process.off('SIGHUP', onHangup)
      }
    }
  }, { name: 'simulator', logger })
}
