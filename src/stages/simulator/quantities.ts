import { parseDataFormat, type DataPointDef } from '../../core/datapoint.ts'

/**
 * A quantity a sensor reports: a bounded, mean-reverting random walk around `mean` within
 * [min, max] that moves about `step` per reading; a `monotonic` one (an energy counter) only
 * grows, by up to 2 × `step` per reading, and rolls over to `min` past `max` like a meter.
 */
export interface Quantity { label: string, mean: number, min: number, max: number, step: number, monotonic?: boolean }

type Profile = Omit<Quantity, 'label'>

/** Plausible readings per data point label, keyed by the label lowercased without spaces or punctuation. */
const PROFILES: Record<string, Profile> = {
  temperature: { mean: 22, min: 15, max: 30, step: 0.05 },
  temp: { mean: 22, min: 15, max: 30, step: 0.05 },
  humidity: { mean: 45, min: 25, max: 70, step: 0.1 },
  relativehumidity: { mean: 45, min: 25, max: 70, step: 0.1 },
  rh: { mean: 45, min: 25, max: 70, step: 0.1 },
  co2: { mean: 600, min: 400, max: 1500, step: 5 },
  voltage: { mean: 230, min: 215, max: 245, step: 0.2 },
  current: { mean: 4, min: 0.1, max: 15, step: 0.05 },
  activepower: { mean: 900, min: 0, max: 3500, step: 5 },
  power: { mean: 900, min: 0, max: 3500, step: 5 },
  reactivepower: { mean: 150, min: 0, max: 1000, step: 2 },
  apparentpower: { mean: 950, min: 0, max: 3700, step: 5 },
  powerfactor: { mean: 0.95, min: 0.8, max: 1, step: 0.002 },
  frequency: { mean: 50, min: 49.8, max: 50.2, step: 0.005 },
  energy: { mean: 1500, min: 0, max: Number.POSITIVE_INFINITY, step: 0.02, monotonic: true },
  activeenergy: { mean: 1500, min: 0, max: Number.POSITIVE_INFINITY, step: 0.02, monotonic: true },
  totalenergy: { mean: 1500, min: 0, max: Number.POSITIVE_INFINITY, step: 0.02, monotonic: true },
  pressure: { mean: 1013, min: 980, max: 1040, step: 0.1 },
  illuminance: { mean: 300, min: 0, max: 1000, step: 5 },
  lux: { mean: 300, min: 0, max: 1000, step: 5 },
  pm25: { mean: 12, min: 0, max: 80, step: 0.3 },
  pm10: { mean: 20, min: 0, max: 120, step: 0.4 },
  tvoc: { mean: 150, min: 0, max: 600, step: 2 },
  noise: { mean: 45, min: 30, max: 80, step: 0.3 }
}
// Longest first, so "Active Power L1" finds activepower before power.
const BY_LENGTH = Object.keys(PROFILES).filter(k => k.length > 3).sort((a, b) => b.length - a.length)

const normalise = (label: string): string => label.toLowerCase().replace(/[^a-z0-9]/g, '')

/** The profile for a label (case-insensitive; exact first, then a known name inside it), or undefined. */
export function profileFor (label: string): Profile | undefined {
  const key = normalise(label)
  return PROFILES[key] ?? PROFILES[BY_LENGTH.find(k => key.includes(k)) ?? '']
}

const FLOAT_CAP = 1e9

/** Values `def` can carry: [lo, hi] and the smallest step between two encodings. */
export function representable (def: Pick<DataPointDef, 'dataFormat' | 'decimals'>): { lo: number, hi: number, resolution: number } {
  const f = parseDataFormat(def.dataFormat)
  if (!f.ok) return { lo: 0, hi: 0, resolution: 1 }
  if (f.value.type === 'float') return { lo: -FLOAT_CAP, hi: FLOAT_CAP, resolution: 0 }
  const bits = f.value.width * 8
  const scale = 10 ** Math.max(0, def.decimals ?? 0)
  const [lo, hi] = f.value.type === 'uint' ? [0, 2 ** bits - 1] : [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1]
  return { lo: lo / scale, hi: hi / scale, resolution: 1 / scale }
}

/**
 * The quantity `def` reports: its label's profile narrowed to what the format and decimals
 * can carry; for an unknown label (or a profile the format cannot hold) a range inside
 * 0 .. 80 % of min(representable maximum, 1000), drifting by 1/400 of it per reading.
 */
export function quantityFor (def: Pick<DataPointDef, 'label' | 'dataFormat' | 'decimals'>): Quantity {
  const { lo, hi, resolution } = representable(def)
  const profile = profileFor(def.label)
  if (profile !== undefined) {
    const min = Math.max(profile.min, lo)
    const max = Math.min(profile.max, hi)
    if (max - min >= Math.max(resolution * 4, profile.step)) {
      const mean = Math.min(max, Math.max(min, profile.mean))
      return { label: def.label, ...profile, min, max, mean }
    }
  }
  const min = Math.max(0, lo)
  const max = Math.min(hi, 1000) * 0.8
  const step = Math.min(Math.max((max - min) / 400, resolution), (max - min) / 10)
  return { label: def.label, mean: (min + max) / 2, min, max, step }
}

/** Where a sensor's value starts: near the mean (a counter a little above its start). */
export function initialValue (q: Quantity, rng: () => number): number {
  if (q.monotonic === true) return Math.min(q.max, q.mean + rng() * q.step * 1000)
  return Math.min(q.max, Math.max(q.min, q.mean + (rng() - 0.5) * q.step * 20))
}

/** The next reading after `prev`: a small random step pulled gently towards the mean, kept in bounds. */
export function drift (q: Quantity, prev: number, rng: () => number): number {
  if (q.monotonic === true) {
    const next = prev + rng() * 2 * q.step
    return next > q.max ? q.min : next
  }
  return Math.min(q.max, Math.max(q.min, prev + (rng() - 0.5) * 2 * q.step + (q.mean - prev) * 0.01))
}
