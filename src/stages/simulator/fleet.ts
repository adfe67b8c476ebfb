import type { DataPointDef } from '../../core/datapoint.ts'
import { decodeSensorFrame, encodeSensorFrame } from '../../core/sensor.ts'
import { CONNECTOR_MAX, POSITION_MAX, type ConnectorMode } from '../../core/topic.ts'
import { createRng } from '../../core/random.ts'
import { initialValue, quantityFor, type Quantity } from './quantities.ts'

export type { Quantity } from './quantities.ts'

export interface SimSensor {
  pin: number
  templateName: string
  dataPoints: DataPointDef[]
  quantities: Quantity[]
}

export interface SimConnector {
  number: number
  mode: ConnectorMode
  sensors: SimSensor[]
}

export interface SimController {
  mac: string
  name: string
  connectors: SimConnector[]
}

/** A sensor template: its name in the registry and its data points. */
export interface SensorTemplate { name: string, dataPoints: DataPointDef[] }

const dp = (dataPointId: number, label: string, dataFormat: string, offset: number, decimals: number, append: string): DataPointDef =>
  ({ dataPointId, label, dataFormat, dataEncoding: null, offset, length: 2, prepend: null, append, wholeNumber: decimals === 0, decimals })

/**
 * The seed's two sensor templates exactly as sql/registry/004_sample_registry.sql defines
 * them (raw encoding). Used only where no registry is at hand (unit tests, the benchmark,
 * which registers them in its own registry), or to create them in an empty registry.
 */
export const TEMPLATES = {
  'Environmental Sensor': {
    dataPoints: [dp(1, 'Temperature', 'Int16', 0, 2, ' °C'), dp(2, 'Humidity', 'Uint16', 2, 2, ' %'), dp(3, 'CO2', 'Uint16', 4, 0, ' ppm')]
  },
  'Power Monitor': {
    dataPoints: [dp(4, 'Voltage', 'Uint16', 0, 1, ' V'), dp(5, 'Current', 'Int16', 2, 3, ' A')]
  }
} as const satisfies Record<string, { dataPoints: DataPointDef[] }>

export const BUILTIN_TEMPLATES: readonly SensorTemplate[] = Object.entries(TEMPLATES).map(([name, t]) => ({ name, dataPoints: [...t.dataPoints] }))

/** MACs of generated controllers start with this reserved prefix, so they never collide with real ones. */
export const GENERATED_MAC_PREFIX = 'f2f2'

export function generatedMac (index: number, seed: number): string {
  return `${GENERATED_MAC_PREFIX}${((seed & 0xff) >>> 0).toString(16).padStart(2, '0')}${index.toString(16).padStart(6, '0')}`
}

export function simSensor (pin: number, template: SensorTemplate): SimSensor {
  const dataPoints = template.dataPoints.map(d => ({ ...d }))
  return { pin, templateName: template.name, dataPoints, quantities: dataPoints.map(quantityFor) }
}

/**
 * Why a sensor with these data points cannot be simulated (null if it can): the frame
 * built from plausible values must decode back without a failure, exactly as the processor
 * decodes it (unsupported format or encoding, mixed encodings, duplicate labels, …).
 */
export function unsimulatable (dataPoints: readonly DataPointDef[]): string | null {
  if (dataPoints.length === 0) return 'no data points'
  try {
    const rng = createRng(1)
    const values = Object.fromEntries(dataPoints.map(d => [d.label, initialValue(quantityFor(d), rng)]))
    const frame = encodeSensorFrame(dataPoints, values)
    const decoded = decodeSensorFrame(frame, { controllerMac: '', controllerDeviceId: 0, connectorNumber: 1, pinPosition: 1, sensorDeviceId: 0, sensorName: '', templateName: '', dataPoints: [...dataPoints] })
    const first = decoded.failures[0]
    return first === undefined ? null : `${first.error.code}: ${first.error.message}`
  } catch (err) {
    return (err as Error).message
  }
}

/** The templates a generated fleet may use: with data points that frame cleanly, first of each name, not the controller's. */
export function usableTemplates (templates: readonly SensorTemplate[], controllerTemplate: string): SensorTemplate[] {
  const seen = new Set<string>()
  return templates.filter(t => {
    if (t.name === controllerTemplate || seen.has(t.name)) return false
    seen.add(t.name)
    return unsimulatable(t.dataPoints) === null
  })
}

/**
 * `count` controllers, the same for the same seed and templates: J1 access control, J2 alarm,
 * J3 sensor mode with one to three sensors, J4 sensor mode with one sensor on about half of
 * them; each sensor's template is drawn from `templates` (in the given order).
 */
export function generateFleet (count: number, seed: number, templates: readonly SensorTemplate[] = BUILTIN_TEMPLATES): SimController[] {
  if (templates.length === 0) throw new Error('generateFleet: no sensor templates')
  const rng = createRng(seed)
  const pick = (): SensorTemplate => templates[Math.floor(rng() * templates.length)] as SensorTemplate
  const fleet: SimController[] = []
  for (let i = 0; i < count; i++) {
    const mac = generatedMac(i, seed)
    const j3 = 1 + Math.floor(rng() * 3)
    const connectors: SimConnector[] = [
      { number: 1, mode: 'access-control-mode', sensors: [] },
      { number: 2, mode: 'alarm-mode', sensors: [] },
      { number: 3, mode: 'sensor-mode', sensors: Array.from({ length: j3 }, (_, k) => simSensor(k + 1, pick())) }
    ]
    if (rng() < 0.5) connectors.push({ number: 4, mode: 'sensor-mode', sensors: [simSensor(1, pick())] })
    fleet.push({ mac, name: `Simulated F2 ${i + 1}`, connectors })
  }
  return fleet
}

/** A registry controller as the simulator needs it (see registry-fleet.ts). */
export interface RegistryController {
  mac: string
  name: string | null
  /** Every connector that has a sensor wired, with the sensors (null definition = not resolvable). */
  connectors: Array<{ number: number, pins: Array<{ position: number, template: SensorTemplate | null }> }>
}

export interface SkippedSensor { mac: string, connector: number, pin: number, reason: string }

/**
 * The registry's controllers as a fleet. A connector with sensors wired is in sensor mode
 * and each of its sensors publishes frames of its own data points; of the connectors
 * J1..J4 left free, the first is in access-control mode and the next in alarm mode. Sensors
 * that cannot be simulated (no data points, a layout that does not decode, a connector or pin
 * outside the F2 topic range) are left out and listed in `skipped`.
 */
export function fleetFromRegistry (controllers: readonly RegistryController[]): { fleet: SimController[], skipped: SkippedSensor[] } {
  const skipped: SkippedSensor[] = []
  const fleet = controllers.map(c => {
    const connectors: SimConnector[] = []
    const occupied = new Set<number>()
    for (const cn of c.connectors) {
      if (cn.pins.length === 0) continue
      occupied.add(cn.number)
      const sensors: SimSensor[] = []
      for (const p of cn.pins) {
        const skip = (reason: string): void => { skipped.push({ mac: c.mac, connector: cn.number, pin: p.position, reason }) }
        if (cn.number < 1 || cn.number > CONNECTOR_MAX) { skip(`connector ${cn.number} is outside J1..J${CONNECTOR_MAX}`); continue }
        if (p.position < 1 || p.position > (POSITION_MAX.sensor ?? 0)) { skip(`pin ${p.position} is outside sensor-1..sensor-${POSITION_MAX.sensor ?? 0}`); continue }
        if (p.template === null) { skip('sensor has no template'); continue }
        const why = unsimulatable(p.template.dataPoints)
        if (why !== null) { skip(`template '${p.template.name}': ${why}`); continue }
        sensors.push(simSensor(p.position, p.template))
      }
      if (cn.number >= 1 && cn.number <= CONNECTOR_MAX) connectors.push({ number: cn.number, mode: 'sensor-mode', sensors })
    }
    const free = Array.from({ length: CONNECTOR_MAX }, (_, i) => i + 1).filter(n => !occupied.has(n))
    const modes: ConnectorMode[] = ['access-control-mode', 'alarm-mode']
    free.slice(0, modes.length).forEach((n, i) => connectors.push({ number: n, mode: modes[i] as ConnectorMode, sensors: [] }))
    connectors.sort((a, b) => a.number - b.number)
    return { mac: c.mac, name: c.name ?? `F2 Controller ${c.mac}`, connectors }
  })
  return { fleet, skipped }
}
