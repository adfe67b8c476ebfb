import type { ServiceTarget } from './config.ts'
import type { Collector } from './monitor.ts'
import { parseExposition, type Sample } from './prom-text.ts'
import { abortable } from './probes/types.ts'

/** One counter of one service: its total and its rate over the last scrape interval. */
export interface CounterRate {
  total: number
  /** Per second; null until two scrapes are known or after a counter reset. */
  rate: number | null
}

export interface ServiceCounters {
  name: string
  url: string
  scraped_at: string | null
  error?: string
  /** Every `f2_*_total` counter, summed over its labels. */
  counters: Record<string, CounterRate>
  /** Dead letters by reason (`f2_<stage>_dead_letters_total{reason}`). */
  dead_letters: Record<string, CounterRate>
}

interface Scrape { at: number, totals: Map<string, number>, deadLetters: Map<string, number> }

function summarise (samples: readonly Sample[]): Pick<Scrape, 'totals' | 'deadLetters'> {
  const totals = new Map<string, number>()
  const deadLetters = new Map<string, number>()
  for (const s of samples) {
    if (!s.name.startsWith('f2_') || !s.name.endsWith('_total')) continue
    totals.set(s.name, (totals.get(s.name) ?? 0) + s.value)
    if (s.name.endsWith('_dead_letters_total')) {
      const reason = s.labels.reason ?? 'unknown'
      deadLetters.set(reason, (deadLetters.get(reason) ?? 0) + s.value)
    }
  }
  return { totals, deadLetters }
}

function rates (current: Map<string, number>, previous: Map<string, number> | undefined, seconds: number): Record<string, CounterRate> {
  const out: Record<string, CounterRate> = {}
  for (const [name, total] of current) {
    const before = previous?.get(name)
    const rate = before === undefined || seconds <= 0 || total < before ? null : (total - before) / seconds
    out[name] = { total, rate }
  }
  return out
}

/**
 * Scrapes every service's `/metrics` once per cycle and derives per-second rates from two
 * consecutive scrapes, so the status page shows stage rates without Prometheus (native runs).
 */
export function serviceScraper (services: readonly ServiceTarget[]): Collector & { snapshot: () => ServiceCounters[] } {
  const last = new Map<string, Scrape>()
  const view = new Map<string, ServiceCounters>(services.map(s => [s.name, { name: s.name, url: s.url, scraped_at: null, counters: {}, dead_letters: {} }]))

  async function scrape (service: ServiceTarget, signal: AbortSignal): Promise<void> {
    try {
      const res = await abortable(signal, fetch(`${service.url}/metrics`, { signal }))
      if (res.status !== 200) throw new Error(`${service.url}/metrics answered ${res.status}`)
      const { samples } = parseExposition(await abortable(signal, res.text()))
      const at = Date.now()
      const current = { at, ...summarise(samples) }
      const previous = last.get(service.name)
      const seconds = previous === undefined ? 0 : (at - previous.at) / 1000
      last.set(service.name, current)
      view.set(service.name, {
        name: service.name,
        url: service.url,
        scraped_at: new Date(at).toISOString(),
        counters: rates(current.totals, previous?.totals, seconds),
        dead_letters: rates(current.deadLetters, previous?.deadLetters, seconds)
      })
    } catch (err) {
      // A restarted service starts its counters at zero: forget the old scrape.
      last.delete(service.name)
      const old = view.get(service.name)
      view.set(service.name, { name: service.name, url: service.url, scraped_at: old?.scraped_at ?? null, counters: {}, dead_letters: {}, error: err instanceof Error ? err.message : String(err) })
    }
  }

  return {
    name: 'service-scraper',
    collect: async signal => { await Promise.all(services.map(s => scrape(s, signal))) },
    snapshot: () => services.map(s => view.get(s.name) as ServiceCounters)
  }
}
