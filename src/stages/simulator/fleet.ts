import type { DataPointDef } from '../../core/datapoint.ts'
import type { ConnectorMode } from '../../core/topic.ts'

/** Deterministic PRNG (mulberry32): the same seed gives the same fleet and the same traffic. */
export function createRng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A quantity a sensor reports, drifting slowly around `mean` within [min, max]. */
export interface Quantity { label: string, mean: number, min: number, max: number, step: number }

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

const dp = (dataPointId: number, label: string, dataFormat: string, offset: number, decimals: number, append: string, dataEncoding: string | null): DataPointDef =>
  ({ dataPointId, label, dataFormat, dataEncoding, offset, length: 2, prepend: null, append, wholeNumber: decimals === 0, decimals })

/** The seed's two sensor templates, framed as Modbus RTU read replies (as real RS-485 sensors answer). */
export const TEMPLATES = {
  'Environmental Sensor': {
    dataPoints: [dp(1, 'Temperature', 'Int16', 0, 2, ' °C', 'modbus-rtu'), dp(2, 'Humidity', 'Uint16', 2, 2, ' %', 'modbus-rtu'), dp(3, 'CO2', 'Uint16', 4, 0, ' ppm', 'modbus-rtu')],
    quantities: [
      { label: 'Temperature', mean: 22, min: 15, max: 30, step: 0.05 },
      { label: 'Humidity', mean: 45, min: 25, max: 70, step: 0.1 },
      { label: 'CO2', mean: 600, min: 400, max: 1500, step: 5 }
    ]
  },
  'Power Monitor': {
    dataPoints: [dp(4, 'Voltage', 'Uint16', 0, 1, ' V', 'modbus-rtu'), dp(5, 'Current', 'Int16', 2, 3, ' A', 'modbus-rtu')],
    quantities: [
      { label: 'Voltage', mean: 230, min: 215, max: 245, step: 0.2 },
      { label: 'Current', mean: 4, min: 0.1, max: 15, step: 0.05 }
    ]
  }
} as const satisfies Record<string, { dataPoints: DataPointDef[], quantities: Quantity[] }>

/** MACs of generated controllers start with this reserved prefix, so they never collide with real ones. */
export const GENERATED_MAC_PREFIX = 'f2f2'

export function generatedMac (index: number, seed: number): string {
  return `${GENERATED_MAC_PREFIX}${((seed & 0xff) >>> 0).toString(16).padStart(2, '0')}${index.toString(16).padStart(6, '0')}`
}

function sensor (pin: number, templateName: keyof typeof TEMPLATES): SimSensor {
  const t = TEMPLATES[templateName]
  return { pin, templateName, dataPoints: t.dataPoints.map(d => ({ ...d })), quantities: t.quantities.map(q => ({ ...q })) }
}

/**
 * `count` controllers, the same for the same seed: J1 access control, J2 alarm, J3 sensor mode
 * with one to three environmental sensors, J4 sensor mode with a power monitor (on some).
 */
export function generateFleet (count: number, seed: number): SimController[] {
  const rng = createRng(seed)
  const fleet: SimController[] = []
  for (let i = 0; i < count; i++) {
    const mac = generatedMac(i, seed)
    const envSensors = 1 + Math.floor(rng() * 3)
    const connectors: SimConnector[] = [
      { number: 1, mode: 'access-control-mode', sensors: [] },
      { number: 2, mode: 'alarm-mode', sensors: [] },
      { number: 3, mode: 'sensor-mode', sensors: Array.from({ length: envSensors }, (_, k) => sensor(k + 1, 'Environmental Sensor')) }
    ]
    if (rng() < 0.5) connectors.push({ number: 4, mode: 'sensor-mode', sensors: [sensor(1, 'Power Monitor')] })
    fleet.push({ mac, name: `Simulated F2 ${i + 1}`, connectors })
  }
  return fleet
}
