export { createRng as prng } from '../../../src/core/random.ts'

export function randInt (rnd: () => number, min: number, max: number): number {
  return min + Math.floor(rnd() * (max - min + 1))
}

export function randBytes (rnd: () => number, maxLength: number): Uint8Array {
  const out = new Uint8Array(randInt(rnd, 0, maxLength))
  for (let i = 0; i < out.length; i++) out[i] = randInt(rnd, 0, 255)
  return out
}

export function pick<T> (rnd: () => number, items: readonly T[]): T {
  return items[Math.floor(rnd() * items.length)] as T
}

/** A random string over `alphabet`. */
export function randString (rnd: () => number, alphabet: string, maxLength: number): string {
  let s = ''
  const n = randInt(rnd, 0, maxLength)
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rnd() * alphabet.length)]
  return s
}
