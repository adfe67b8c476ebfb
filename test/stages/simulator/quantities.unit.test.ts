import { describe, expect, it } from 'vitest'
import type { DataPointDef } from '../../../src/core/datapoint.ts'
import { encodeDataPoint } from '../../../src/core/datapoint.ts'
import { createRng } from '../../../src/core/random.ts'
import { drift, initialValue, profileFor, quantityFor, representable } from '../../../src/stages/simulator/quantities.ts'

const def = (label: string, dataFormat: string, decimals: number | null): DataPointDef => {
  const width = /8/.test(dataFormat) ? 1 : /16/.test(dataFormat) ? 2 : 4
  return { dataPointId: 1, label, dataFormat, dataEncoding: null, offset: 0, length: width, prepend: null, append: null, wholeNumber: null, decimals }
}

/** `steps` readings of `d`'s quantity, each one encoded as the sensor would send it. */
function walk (d: DataPointDef, steps: number, seed = 9): number[] {
  const q = quantityFor(d)
  const rng = createRng(seed)
  const out = [initialValue(q, rng)]
  for (let i = 1; i < steps; i++) out.push(drift(q, out[i - 1] as number, rng))
  for (const v of out) encodeDataPoint(v, d) // throws if the format cannot carry it
  return out
}

describe('quantity profiles', () => {
  it('knows the usual labels whatever their case or punctuation', () => {
    expect(profileFor('TEMPERATURE')?.mean).toBe(22)
    expect(profileFor('co2')?.max).toBe(1500)
    expect(profileFor('Active Power')?.max).toBe(3500)
    expect(profileFor('active_power_l1')?.max).toBe(3500)
    expect(profileFor('Room temperature')?.mean).toBe(22)
    expect(profileFor('Energy')?.monotonic).toBe(true)
    expect(profileFor('Flux capacitance')).toBeUndefined()
  })

  it('narrows a profile to what the format and decimals can carry', () => {
    expect(representable(def('x', 'Uint16', 2))).toEqual({ lo: 0, hi: 655.35, resolution: 0.01 })
    expect(representable(def('x', 'Int8', 0))).toEqual({ lo: -128, hi: 127, resolution: 1 })
    const co2InByte = quantityFor(def('CO2', 'Uint8', 0))
    expect(co2InByte.max).toBeLessThanOrEqual(255)
    expect(co2InByte.min).toBeGreaterThanOrEqual(0)
    const voltsInTinyRange = quantityFor(def('Voltage', 'Uint8', 2)) // 0..2.55: 215 V cannot fit, generic range instead
    expect(voltsInTinyRange.max).toBeLessThanOrEqual(2.55)
  })
})

describe('drift', () => {
  it('keeps known quantities plausible and moves them slowly', () => {
    for (const [label, format, decimals, lo, hi, maxStep] of [
      ['Temperature', 'Int16', 2, 15, 30, 0.2],
      ['Humidity', 'Uint16', 2, 25, 70, 0.3],
      ['CO2', 'Uint16', 0, 400, 1500, 12],
      ['Voltage', 'Float32', null, 215, 245, 0.5],
      ['current', 'Int16', 3, 0.1, 15, 0.12]
    ] as const) {
      const values = walk(def(label, format, decimals), 5000)
      expect(Math.min(...values), label).toBeGreaterThanOrEqual(lo)
      expect(Math.max(...values), label).toBeLessThanOrEqual(hi)
      for (let i = 1; i < values.length; i++) expect(Math.abs((values[i] as number) - (values[i - 1] as number))).toBeLessThan(maxStep)
      // It does move: not stuck at the mean.
      expect(Math.max(...values) - Math.min(...values), label).toBeGreaterThan(maxStep)
    }
  })

  it('only increases an energy counter', () => {
    const values = walk(def('Energy', 'Uint32', 2), 3000)
    for (let i = 1; i < values.length; i++) expect(values[i] as number).toBeGreaterThanOrEqual(values[i - 1] as number)
    expect((values.at(-1) as number) - (values[0] as number)).toBeGreaterThan(10)
  })

  it('rolls a counter over at the top of its format instead of overflowing', () => {
    const d = def('Energy', 'Uint8', 0)
    const q = quantityFor(d)
    expect(q.max).toBe(255)
    expect(drift(q, 255, () => 0.99)).toBe(q.min)
  })

  it('keeps an unknown label inside a range its format and decimals can carry', () => {
    for (const [format, decimals] of [['Int8', 0], ['Uint8', 2], ['Uint16', 0], ['Int16', 3], ['Uint32', 2], ['Int32_DCBA', 1], ['Float32', null]] as const) {
      const d = def('Mystery reading', format, decimals)
      const q = quantityFor(d)
      const { hi } = representable(d)
      expect(q.max, format).toBeLessThanOrEqual(Math.min(hi, 1000))
      expect(q.min, format).toBeGreaterThanOrEqual(0)
      const values = walk(d, 3000)
      expect(Math.min(...values)).toBeGreaterThanOrEqual(q.min)
      expect(Math.max(...values)).toBeLessThanOrEqual(q.max)
      expect(new Set(values).size, format).toBeGreaterThan(1)
    }
  })
})
