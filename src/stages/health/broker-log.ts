import { open, stat } from 'node:fs/promises'
import type { Logger } from '../../adapters/logger.ts'
import type { Counter } from '../../adapters/metrics.ts'
import type { Collector } from './monitor.ts'

/**
 * Refusals at the broker, read from its log (natively .stack/logs/mosquitto.log). Mosquitto 2.0
 * has no metric for them; these are the lines it writes (log types notice and above, plus the
 * debug line of a refused publish when the broker logs at debug):
 *   New connection from 10.0.0.5:50122 on port 8884.
 *   New client connected from 10.0.0.5:50122 as f2-… (p5, c1, k60, u'f2-…').
 *   Client <unknown> disconnected, not authorised.             (refused CONNECT)
 *   OpenSSL Error[0]: error:0A000086:SSL routines::certificate verify failed
 *   Client f2-… been disconnected by administrative action.     (account revoked)
 *   Denied PUBLISH from f2-… (d0, q1, r0, m1, 'tele/…', ... (12 bytes))   (debug only)
 * A refused CONNECT carries neither client id nor address: the address is that of the newest
 * connection the broker accepted and had not yet seen a CONNECT on (exact unless two clients
 * connect in the same instant). A refused subscription is not logged by Mosquitto 2.0 at all.
 */
export type BrokerEventKind = 'auth_failed' | 'tls_failed' | 'publish_denied' | 'revoked'

export interface BrokerEvent {
  at: string
  kind: BrokerEventKind
  client_id: string | null
  address: string | null
  /** The listener's port (from the connection line), when known. */
  port: number | null
  detail?: string
}

export type BrokerLine =
  | { type: 'accepted', address: string, port: number }
  | { type: 'connected', address: string, clientId: string }
  | { type: 'closed', clientId: string }
  | { type: 'event', kind: BrokerEventKind, clientId: string | null, detail?: string }

/** One log line (with or without the `%Y-%m-%dT%H:%M:%S: ` prefix); undefined for the rest. */
export function parseBrokerLine (line: string): BrokerLine | undefined {
  const text = line.replace(/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d|\d+): /, '')
  let m = /^New connection from (\S+):(\d+) on port (\d+)\.$/.exec(text)
  if (m !== null) return { type: 'accepted', address: `${m[1] ?? ''}:${m[2] ?? ''}`, port: Number(m[3]) }
  m = /^New client connected from (\S+:\d+) as (\S+) \(/.exec(text)
  if (m !== null) return { type: 'connected', address: m[1] ?? '', clientId: m[2] ?? '' }
  m = /^Client (\S+) disconnected, not authorised\.$/.exec(text)
  if (m !== null) return { type: 'event', kind: 'auth_failed', clientId: m[1] === '<unknown>' ? null : (m[1] ?? null) }
  m = /^OpenSSL Error\[\d+\]: .*?::(certificate verify failed|peer did not return a certificate|.*certificate.*)$/.exec(text)
  if (m !== null) return { type: 'event', kind: 'tls_failed', clientId: null, detail: m[1] ?? '' }
  m = /^Client (\S+) been disconnected by administrative action\.$/.exec(text)
  if (m !== null) return { type: 'event', kind: 'revoked', clientId: m[1] ?? '' }
  m = /^Denied PUBLISH from (\S+) \(d\d, q\d, r\d, m\d+, '([^']*)'/.exec(text)
  if (m !== null) return { type: 'event', kind: 'publish_denied', clientId: m[1] ?? '', detail: m[2] ?? '' }
  m = /^Client (\S+) (?:disconnected|closed its connection|has exceeded timeout)/.exec(text)
  if (m !== null && m[1] !== '<unknown>') return { type: 'closed', clientId: m[1] ?? '' }
  return undefined
}

export interface BrokerSecuritySnapshot {
  source: string | null
  counts: Record<BrokerEventKind, number>
  /** Newest first. */
  recent: BrokerEvent[]
  error?: string
}

const RECENT = 50
const MAX_CLIENTS = 100_000
const READ_LIMIT = 8 * 1024 * 1024

/**
 * Follows the broker's log from where it was at start (a restarted monitor does not count old
 * lines again; a truncated or rotated file is read from its start). Every event is counted,
 * logged with client id and address, and kept among the newest for the status page.
 */
export function brokerLogWatcher (options: { file: string | undefined, refusals: Counter<'kind'>, logger: Logger, now?: () => Date }): Collector & { snapshot: () => BrokerSecuritySnapshot, readNow: () => Promise<void> } {
  const counts: Record<BrokerEventKind, number> = { auth_failed: 0, tls_failed: 0, publish_denied: 0, revoked: 0 }
  const recent: BrokerEvent[] = []
  const pending: Array<{ address: string, port: number }> = []
  const clients = new Map<string, { address: string, port: number | null }>()
  let offset: number | undefined
  let partial = ''
  let error: string | undefined

  const record = (kind: BrokerEventKind, clientId: string | null, detail: string | undefined): void => {
    let where: { address: string, port: number | null } | undefined = clientId === null ? undefined : clients.get(clientId)
    if (where === undefined && (kind === 'auth_failed' || kind === 'tls_failed')) where = pending.pop()
    const event: BrokerEvent = { at: (options.now?.() ?? new Date()).toISOString(), kind, client_id: clientId, address: where?.address ?? null, port: where?.port ?? null, ...(detail === undefined ? {} : { detail }) }
    counts[kind]++
    options.refusals.inc({ kind })
    recent.unshift(event)
    recent.length = Math.min(recent.length, RECENT)
    options.logger.warn({ broker: event }, `broker refused or cut a client: ${kind}`)
  }

  const consume = (line: string): void => {
    const p = parseBrokerLine(line)
    if (p === undefined) return
    if (p.type === 'accepted') {
      pending.push({ address: p.address, port: p.port })
      if (pending.length > 1000) pending.shift()
    } else if (p.type === 'connected') {
      const i = pending.findIndex(c => c.address === p.address)
      const port = i === -1 ? null : (pending.splice(i, 1)[0]?.port ?? null)
      if (clients.size >= MAX_CLIENTS) clients.clear()
      clients.set(p.clientId, { address: p.address, port })
    } else if (p.type === 'closed') {
      clients.delete(p.clientId)
    } else {
      record(p.kind, p.clientId, p.detail)
    }
  }

  const readNow = async (): Promise<void> => {
    if (options.file === undefined) return
    let size: number
    try {
      size = (await stat(options.file)).size
      error = undefined
    } catch (err) {
      error = `cannot read ${options.file}: ${(err as Error).message}`
      return
    }
    if (offset === undefined) { offset = size; return }
    if (size < offset) { offset = 0; partial = '' }
    if (size === offset) return
    const length = Math.min(size - offset, READ_LIMIT)
    const fh = await open(options.file, 'r')
    try {
      const buf = Buffer.alloc(length)
      const { bytesRead } = await fh.read(buf, 0, length, offset)
      offset += bytesRead
      const lines = (partial + buf.subarray(0, bytesRead).toString('utf8')).split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) consume(line)
    } finally {
      await fh.close()
    }
  }

  return {
    name: 'broker-log',
    collect: readNow,
    readNow,
    snapshot: () => ({ source: options.file ?? null, counts: { ...counts }, recent: [...recent], ...(error === undefined ? {} : { error }) })
  }
}
