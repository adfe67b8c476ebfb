import { describe, expect, it } from 'vitest'
import { LoadingCache } from '../../src/registry/cache.ts'

function clock (): { now: () => number, advance: (ms: number) => void } {
  let t = 1_000
  return { now: () => t, advance: ms => { t += ms } }
}

function deferred<T> (): { promise: Promise<T>, resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>(r => { resolve = r })
  return { promise, resolve }
}

describe('LoadingCache', () => {
  it('expires entries after their own TTL', async () => {
    const c = clock()
    const cache = new LoadingCache<string>({ maxEntries: 10, now: c.now, ttlOf: v => (v.startsWith('neg') ? 100 : 1000) })
    await cache.load('a', async () => 'pos', () => true)
    await cache.load('b', async () => 'neg', () => true)
    c.advance(150)
    expect(cache.peek('a')).toBe('pos')
    expect(cache.peek('b')).toBeUndefined()
    c.advance(900)
    expect(cache.peek('a')).toBeUndefined()
  })

  it('evicts the least recently used entry beyond maxEntries', async () => {
    const cache = new LoadingCache<number>({ maxEntries: 2, ttlOf: () => 1000 })
    await cache.load('a', async () => 1, () => true)
    await cache.load('b', async () => 2, () => true)
    expect(cache.peek('a')).toBe(1) // a is now the most recent
    await cache.load('c', async () => 3, () => true)
    expect([cache.peek('a'), cache.peek('b'), cache.peek('c')]).toEqual([1, undefined, 3])
  })

  it('shares one load among concurrent callers and does not cache failures', async () => {
    const cache = new LoadingCache<number>({ maxEntries: 10, ttlOf: () => 1000 })
    let loads = 0
    const d = deferred<number>()
    const all = Promise.all([1, 2, 3].map(async () => await cache.load('k', async () => { loads++; return await d.promise }, () => true)))
    d.resolve(7)
    expect(await all).toEqual([7, 7, 7])
    expect(loads).toBe(1)
    await expect(cache.load('x', async () => { throw new Error('down') }, () => true)).rejects.toThrow('down')
    expect(await cache.load('x', async () => 8, () => true)).toBe(8)
  })

  it('never caches a load that started before clear(), nor shares it afterwards', async () => {
    const cache = new LoadingCache<string>({ maxEntries: 10, ttlOf: () => 1000 })
    const old = deferred<string>()
    const first = cache.load('k', async () => await old.promise, () => true)
    cache.clear()
    const second = cache.load('k', async () => 'new', () => true)
    old.resolve('old')
    expect(await first).toBe('old')
    expect(await second).toBe('new')
    expect(cache.peek('k')).toBe('new')
  })

  it('does not store when told not to (e.g. while not listening)', async () => {
    const cache = new LoadingCache<string>({ maxEntries: 10, ttlOf: () => 1000 })
    await cache.load('k', async () => 'v', () => false)
    expect(cache.peek('k')).toBeUndefined()
    expect(cache.size).toBe(0)
  })
})
