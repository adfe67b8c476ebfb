import { abortable, type Probe } from './types.ts'

/** GET `url`; resolves with the status and the body parsed as JSON when it is JSON. */
async function get (url: string, signal: AbortSignal): Promise<{ status: number, body: unknown }> {
  const res = await abortable(signal, fetch(url, { signal, headers: { accept: 'application/json' } }))
  const text = await abortable(signal, res.text())
  let body: unknown = text
  if ((res.headers.get('content-type') ?? '').includes('json')) {
    try { body = JSON.parse(text) } catch { /* keep the text */ }
  }
  return { status: res.status, body }
}

/**
 * A pipeline service is up when its `/readyz` answers 200, which each service gives only
 * while its inputs and outputs are connected. Its own checks are passed on as details.
 */
export function serviceProbe (options: { name: string, url: string }): Probe {
  return {
    name: options.name,
    kind: 'service',
    critical: false,
    async check (signal) {
      const { status, body } = await get(`${options.url}/readyz`, signal)
      const checks = typeof body === 'object' && body !== null && 'checks' in body ? (body as { checks: unknown }).checks : undefined
      if (status !== 200) {
        throw Object.assign(new Error(`${options.url}/readyz answered ${status}`), { details: { url: options.url, checks } })
      }
      return { url: options.url, checks }
    }
  }
}

/** Prometheus is up when `/-/ready` answers 200; the number of its targets up is a detail. */
export function prometheusProbe (options: { url: string }): Probe {
  return {
    name: 'prometheus',
    kind: 'prometheus',
    critical: false,
    async check (signal) {
      const ready = await get(`${options.url}/-/ready`, signal)
      if (ready.status !== 200) throw new Error(`${options.url}/-/ready answered ${ready.status}`)
      const targets = await get(`${options.url}/api/v1/targets?state=active`, signal)
      const active = (targets.body as { data?: { activeTargets?: Array<{ health: string }> } }).data?.activeTargets ?? []
      return {
        url: options.url,
        targets_up: active.filter(t => t.health === 'up').length,
        targets_total: active.length
      }
    }
  }
}
