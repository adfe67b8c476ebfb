import type { Service } from '../../adapters/lifecycle.ts'
import type { Logger } from '../../adapters/logger.ts'
import { prepareAccess, type AccessFor } from './access.ts'
import type { SimulatorConfig } from './config.ts'
import type { SimulatorMetrics } from './metrics.ts'
import { loadFleet, type LoadedFleet } from './registry-fleet.ts'
import { createSimulator, type LoadReport, type Simulator } from './simulator.ts'

export interface SimulatorStageDeps {
  config: SimulatorConfig
  logger: Logger
  metrics: SimulatorMetrics
}

/** The one-shot run's outcome (`--count` / `--duration`): what was sent, for the JSON report. */
export interface OneShotReport extends LoadReport { devices: number, qos: 0 | 1 | 2, targetRate: number }

/**
 * Reads the fleet to simulate (the registry's controllers, or a generated fleet, registered when
 * asked), retrying an unreachable registry for up to `waitMs`; rejects once `signal` aborts.
 */
export async function readFleet (deps: SimulatorStageDeps, waitMs: number, signal?: AbortSignal): Promise<LoadedFleet> {
  const { config, logger } = deps
  const loaded = await loadFleet({
    devices: config.devices,
    seed: config.seed,
    register: config.register,
    registry: config.registry,
    logger,
    waitMs,
    ...(signal === undefined ? {} : { signal }),
    // Paced: every sensor reports once per interval, so its controller at least as often.
    ...(config.rate === 0 ? { intervalS: Math.max(1, Math.ceil(config.intervalMs / 1000)) } : {})
  })
  if (loaded.skipped.length > 0) logger.warn({ skipped: loaded.skipped.slice(0, 20), count: loaded.skipped.length }, 'registry sensors left out (they cannot be framed so that they decode)')
  return loaded
}

function counts ({ fleet }: LoadedFleet): { controllers: number, sensors: number } {
  return { controllers: fleet.length, sensors: fleet.reduce((n, c) => n + c.connectors.reduce((k, cn) => k + cn.sensors.length, 0), 0) }
}

/** A one-shot load run of the fleet `loaded` (readFleet): sends `count` messages or for `durationMs`, and reports. */
export async function runOneShot (deps: SimulatorStageDeps, loaded: LoadedFleet): Promise<OneShotReport> {
  const { config, logger, metrics } = deps
  logger.info({ source: loaded.source, ...counts(loaded) }, 'fleet loaded')
  const sim = createSimulator({ config, logger, metrics, fleet: loaded.fleet, access: await prepareAccess(config, loaded.fleet.map(c => c.mac), logger) })
  await sim.start()
  const report = await sim.runLoad({ rate: config.rate, count: config.count > 0 ? config.count : undefined, durationMs: config.durationMs })
  await sim.stop()
  return { devices: sim.fleet.length, qos: config.qos, targetRate: config.rate, ...report }
}

/**
 * The simulator as a service: every sensor reports once per interval (events in between), or
 * the `--rate` load, until stopped. `start` waits for the registry as long as it takes (an
 * aborted wait, by `stop`, ends it quietly) and for every controller's first connection.
 * `reload` (SIGHUP) re-reads the fleet and continues with it; a fleet that cannot be read, or
 * whose accounts cannot be given, leaves the running one untouched. Nothing is acknowledged
 * downstream of the simulator: its controllers publish with the configured QoS and that is all.
 */
export class SimulatorStage implements Service {
  readonly #deps: SimulatorStageDeps
  readonly #abort = new AbortController()
  #sim: Simulator | undefined
  #starting: Promise<void> | undefined
  #loop: Promise<unknown> | undefined
  #generation: AbortController | undefined
  #reloading: Promise<void> | undefined
  #again = false

  constructor (deps: SimulatorStageDeps) {
    this.#deps = deps
  }

  readiness (): { ready: boolean, checks: Record<string, boolean> } {
    const sim = this.#sim
    return { ready: sim?.ready() ?? false, checks: { fleet: sim !== undefined, mqtt: sim?.ready() ?? false } }
  }

  async start (): Promise<void> {
    this.#starting = this.#boot()
    await this.#starting
  }

  async stop (_deadlineMs: number): Promise<void> {
    this.#abort.abort()
    await this.#starting?.catch(() => {})
    await this.#reloading
    await this.#loop
    await this.#sim?.stop()
  }

  /**
   * Re-reads the fleet (SIGHUP). One reload runs at a time; requests that arrive meanwhile are
   * folded into one more. Never rejects: a failed reload is logged and counted.
   */
  reload (): Promise<void> {
    const { logger } = this.#deps
    if (this.#reloading !== undefined) {
      this.#again = true
      return this.#reloading
    }
    this.#reloading = (async () => {
      do {
        this.#again = false
        await this.#reloadOnce()
      } while (this.#again)
    })()
      .catch((err: unknown) => { logger.error({ err }, 'fleet reload failed') })
      .finally(() => { this.#reloading = undefined })
    return this.#reloading
  }

  async #boot (): Promise<void> {
    const { config, logger, metrics } = this.#deps
    const signal = this.#abort.signal
    let loaded: LoadedFleet
    try {
      loaded = await readFleet(this.#deps, Number.POSITIVE_INFINITY, signal)
    } catch (err) {
      if (signal.aborted) return
      throw err
    }
    if (signal.aborted) return
    logger.info({ source: loaded.source, ...counts(loaded) }, 'fleet loaded')
    const sim = this.#sim = createSimulator({ config, logger, metrics, fleet: loaded.fleet, access: await prepareAccess(config, loaded.fleet.map(c => c.mac), logger) })
    await sim.start()
    if (signal.aborted) return
    logger.info({ devices: sim.fleet.length, intervalS: config.intervalMs / 1000, rate: config.rate }, 'simulating')
    this.#publish(sim)
  }

  #publish (sim: Simulator): void {
    const { config } = this.#deps
    // Its own controller, so a reload can end this loop without shutting the service down.
    this.#generation = new AbortController()
    const signal = AbortSignal.any([this.#abort.signal, this.#generation.signal])
    this.#loop = config.rate > 0
      ? sim.runLoad({ rate: config.rate, signal })
      : sim.runPaced({ intervalMs: config.intervalMs, signal })
  }

  // The new fleet is read before the old one stops, so a registry that cannot be read (one
  // attempt: the operator can send SIGHUP again) leaves the running fleet untouched.
  async #reloadOnce (): Promise<void> {
    const { config, logger, metrics } = this.#deps
    const signal = this.#abort.signal
    await this.#starting?.catch(() => {})
    if (this.#sim === undefined || signal.aborted) return
    let loaded: LoadedFleet
    try {
      loaded = await readFleet(this.#deps, 0, signal)
    } catch (err) {
      if (signal.aborted) return
      metrics.fleetReloads.inc({ result: 'failed' })
      logger.warn({ err }, 'fleet reload failed, the previous fleet keeps running')
      return
    }
    if (signal.aborted) return
    let access: AccessFor
    try {
      access = await prepareAccess(config, loaded.fleet.map(c => c.mac), logger)
    } catch (err) {
      metrics.fleetReloads.inc({ result: 'failed' })
      logger.warn({ err }, 'broker accounts for the reloaded fleet failed, the previous fleet keeps running')
      return
    }
    this.#generation?.abort()
    await this.#loop
    // Stopped before the next one starts: both would connect with the same MQTT client ids.
    await this.#sim.stop()
    this.#sim = undefined
    if (signal.aborted) return
    const sim = this.#sim = createSimulator({ config, logger, metrics, fleet: loaded.fleet, access })
    // Unlike at boot, a broker that is down is no reason to stop: the client keeps reconnecting
    // (and subscribing) in the background, as through any outage.
    await sim.start().catch((err: unknown) => { logger.warn({ err }, 'MQTT not connected after the fleet reload, publishing resumes once it is') })
    if (signal.aborted) return
    this.#publish(sim)
    metrics.fleetReloads.inc({ result: 'ok' })
    logger.info(counts(loaded), 'fleet reloaded')
  }
}
