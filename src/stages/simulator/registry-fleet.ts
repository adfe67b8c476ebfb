import { setTimeout as sleep } from 'node:timers/promises'
import type postgres from 'postgres'
import { exponentialDelay } from '../../adapters/backoff.ts'
import type { Logger } from '../../adapters/logger.ts'
import type { DataPointDef } from '../../core/datapoint.ts'
import { ErrorCodes, F2Error } from '../../core/errors.ts'
import { CONTROLLER_TEMPLATE, registerFleet, type FleetController, type FleetResult } from '../../registry/admin.ts'
import { listControllers, listTemplates, type TemplateListing } from '../../registry/listing.ts'
import { MAC_SQL, SENSOR_SQL, sensorFromRows, type SensorRow } from '../../registry/queries.ts'
import type { PostgresConnection } from '../../adapters/connections/postgres.ts'
import { connect, describeTarget } from '../../storage/connection.ts'
import { describePgError, isUnavailableError, sqlState } from '../../storage/pg-errors.ts'
import {
  BUILTIN_TEMPLATES, fleetFromRegistry, generateFleet, usableTemplates,
  type RegistryController, type SensorTemplate, type SimController, type SkippedSensor
} from './fleet.ts'

/**
 * The simulator's side of the device registry: reads the registry's controllers (the
 * default fleet) or its sensor templates (for a generated fleet), and registers a generated
 * fleet. Every frame the simulator sends is built from the same definitions the processor
 * resolves, so it decodes.
 */

function templateOf (t: TemplateListing): SensorTemplate {
  return {
    name: t.name,
    dataPoints: t.dataPoints.map((d, i): DataPointDef => ({
      dataPointId: i + 1, label: d.label, dataFormat: d.dataFormat, dataEncoding: d.dataEncoding, offset: d.offset, length: d.length,
      prepend: null, append: d.unit, wholeNumber: null, decimals: d.decimals
    }))
  }
}

/**
 * The registry's controllers with the definitions the processor would resolve for each
 * wired pin (the lowest wired pin of a position, the sensor's template's data points). Two
 * queries; a pin whose template name is not unique is resolved on its own, as the processor does.
 */
export async function readRegistryControllers (sql: postgres.Sql): Promise<RegistryController[]> {
  const [controllers, templates] = await Promise.all([listControllers(sql), listTemplates(sql)])
  const byName = new Map<string, SensorTemplate>()
  const ambiguous = new Set<string>()
  for (const t of templates) {
    if (byName.has(t.name)) ambiguous.add(t.name)
    else byName.set(t.name, templateOf(t))
  }
  const out: RegistryController[] = []
  for (const c of controllers) {
    const connectors: RegistryController['connectors'] = []
    for (const cn of c.connectors) {
      const pins: RegistryController['connectors'][number]['pins'] = []
      for (const p of cn.pins) {
        if (p.sensor === null || pins.some(x => x.position === p.position)) continue
        const name = p.sensor.template
        let template = name === null ? null : byName.get(name) ?? null
        if (name !== null && ambiguous.has(name)) {
          const rows = await sql.unsafe<SensorRow[]>(SENSOR_SQL, [c.mac, cn.number, p.position])
          const r = sensorFromRows(c.mac, cn.number, p.position, rows)
          template = r.ok ? { name: r.value.templateName, dataPoints: r.value.dataPoints } : { name, dataPoints: [] }
        }
        pins.push({ position: p.position, template })
      }
      connectors.push({ number: cn.number, pins })
    }
    out.push({ mac: c.mac, name: c.name, connectors })
  }
  return out
}

/** The registry's sensor templates a generated fleet may use (see usableTemplates). */
export async function readSensorTemplates (sql: postgres.Sql): Promise<SensorTemplate[]> {
  return usableTemplates((await listTemplates(sql)).map(templateOf), CONTROLLER_TEMPLATE)
}

/** The registration of a fleet: controllers by MAC, sensors by connector, pin and template name. */
export function fleetRegistration (fleet: readonly SimController[]): FleetController[] {
  return fleet.map(c => ({
    mac: c.mac,
    name: c.name,
    sensors: c.connectors.flatMap(cn => cn.sensors.map(s => ({ connector: cn.number, pin: s.pin, template: s.templateName })))
  }))
}

/**
 * Registers `fleet` with registerFleet in chunks of `chunkSize` controllers (one
 * transaction each, so 50 000 controllers do not make one huge transaction). Idempotent.
 * `templates` are created when missing (kept when present).
 */
export async function registerSimulatedFleet (sql: postgres.Sql, fleet: readonly SimController[], options: { chunkSize?: number, templates?: readonly SensorTemplate[], onChunk?: (done: number) => void, intervalS?: number } = {}): Promise<Omit<FleetResult, 'controllers'>> {
  const chunkSize = options.chunkSize ?? 1000
  const total = { controllersCreated: 0, sensorsCreated: 0, sensorsKept: 0 }
  const registration = fleetRegistration(fleet)
  const templates = (options.templates ?? []).map(t => ({
    name: t.name,
    dataPoints: t.dataPoints.map(d => ({ label: d.label, dataFormat: d.dataFormat, dataEncoding: d.dataEncoding, offset: d.offset, length: d.length, decimals: d.decimals, prepend: d.prepend, append: d.append }))
  }))
  for (let i = 0; i < registration.length; i += chunkSize) {
    const r = await registerFleet(sql, registration.slice(i, i + chunkSize), i === 0 && templates.length > 0 ? { templates } : {})
    total.controllersCreated += r.controllersCreated
    total.sensorsCreated += r.sensorsCreated
    total.sensorsKept += r.sensorsKept
    if (options.intervalS !== undefined) {
      // The simulated fleet's own expected reporting interval (the fleet stage's offline threshold).
      await sql.unsafe(`UPDATE "Device" c SET "ExpectedReportingIntervalS" = $1
        WHERE ${MAC_SQL} = ANY($2::text[]) AND c."ExpectedReportingIntervalS" IS DISTINCT FROM $1`, [options.intervalS, r.controllers.map(c => c.mac)])
    }
    options.onChunk?.(Math.min(registration.length, i + chunkSize))
  }
  return total
}

/** Not reachable or not ready yet (not created, not migrated): worth waiting for. */
export function isRegistryNotReady (err: unknown): boolean {
  const state = sqlState(err)
  return isUnavailableError(err) || state === '3D000' || state === '42P01' || state === '28P01' || state === '28000'
}

/** Why a registry fleet cannot start yet, when it is retryable (e.g. the sample data is not loaded yet). */
class EmptyRegistry extends Error {}

export interface LoadFleetOptions {
  devices: number
  seed: number
  register: boolean
  registry: PostgresConnection | string
  logger: Logger
  /** Give up after this long (ms) of an unreachable (or, for the registry fleet, empty) registry; Infinity = keep trying. */
  waitMs: number
  signal?: AbortSignal
  /** Controllers per registration transaction. */
  chunkSize?: number
  /** Registered as the generated controllers' expected reporting interval (seconds). */
  intervalS?: number
}

export interface LoadedFleet {
  fleet: SimController[]
  source: 'registry' | 'generated'
  skipped: SkippedSensor[]
  registered?: Omit<FleetResult, 'controllers'>
}

/**
 * The fleet to simulate: the registry's controllers (devices = 0) or `devices` generated
 * controllers using the registry's sensor templates (registered when `register`). While the
 * registry is unreachable (or has no controllers yet), retries with back-off from 0.5 s to
 * 10 s, logging each failure, until `waitMs` has passed (then throws F2Error
 * F2_REGISTRY_UNAVAILABLE) or `signal` aborts (then throws its reason).
 */
export async function loadFleet (o: LoadFleetOptions): Promise<LoadedFleet> {
  const target = describeTarget(o.registry)
  const started = Date.now()
  for (let attempt = 1; ; attempt++) {
    const delay = exponentialDelay(attempt - 1, 500, 10_000)
    // A fresh pool per attempt: postgres.js delays reconnecting a pool whose connect failed.
    const sql = connect(o.registry, { max: 1, connect_timeout: 5 })
    try {
      const loaded = o.devices === 0 ? await registryFleet(sql) : await generatedFleet(sql, o)
      if (attempt > 1) o.logger.info({ registry: target, attempt }, 'registry reached')
      return loaded
    } catch (err) {
      const empty = err instanceof EmptyRegistry
      if (!empty && !isRegistryNotReady(err)) throw err
      const reason = empty ? err.message : describePgError(err)
      const waited = Date.now() - started
      if (waited + delay > o.waitMs) {
        throw new F2Error(ErrorCodes.REGISTRY_UNAVAILABLE, `registry ${target}: ${reason} (gave up after ${Math.round(waited / 1000)} s; SIM_REGISTRY_WAIT_S)`, { cause: err })
      }
      o.logger.warn({ registry: target, attempt, retryInMs: delay, reason }, empty ? 'registry has no controllers yet, retrying' : 'registry not reachable yet, retrying')
    } finally {
      await sql.end({ timeout: 1 })
    }
    await sleep(delay, undefined, o.signal === undefined ? {} : { signal: o.signal })
  }
}

async function registryFleet (sql: postgres.Sql): Promise<LoadedFleet> {
  const { fleet, skipped } = fleetFromRegistry(await readRegistryControllers(sql))
  if (fleet.length === 0) {
    throw new EmptyRegistry('no controllers in the registry: add some (node src/cli.ts registry add-controller …) or generate a fleet with --devices N --register')
  }
  return { fleet, source: 'registry', skipped }
}

async function generatedFleet (sql: postgres.Sql, o: LoadFleetOptions): Promise<LoadedFleet> {
  let templates = await readSensorTemplates(sql)
  let create: readonly SensorTemplate[] = []
  if (templates.length === 0) {
    // An empty registry: the seed's templates, created on registration.
    templates = [...BUILTIN_TEMPLATES]
    create = BUILTIN_TEMPLATES
    o.logger.warn({ templates: templates.map(t => t.name) }, 'the registry has no usable sensor templates; the generated fleet uses the seed\'s')
  }
  const fleet = generateFleet(o.devices, o.seed, templates)
  if (!o.register) {
    o.logger.warn({ devices: fleet.length }, 'generated controllers are not registered (no --register): the processor dead-letters their messages as F2_REGISTRY_UNKNOWN_CONTROLLER unless this fleet (same --devices, --seed and registry templates) was registered before')
    return { fleet, source: 'generated', skipped: [] }
  }
  const t0 = Date.now()
  const registered = await registerSimulatedFleet(sql, fleet, {
    templates: create,
    ...(o.chunkSize === undefined ? {} : { chunkSize: o.chunkSize }),
    ...(o.intervalS === undefined ? {} : { intervalS: o.intervalS }),
    onChunk: done => { if (fleet.length > 1000) o.logger.info({ registered: done, of: fleet.length }, 'registering the fleet') }
  })
  o.logger.info({ ...registered, controllers: fleet.length, ms: Date.now() - t0 }, 'fleet registered')
  return { fleet, source: 'generated', skipped: [], registered }
}
