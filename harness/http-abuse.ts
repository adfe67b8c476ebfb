import { connect } from 'node:net'

/**
 * Malformed and hostile HTTP requests, sent raw over TCP (a client library would refuse to
 * send most of them). Every service shares src/adapters/http.ts; each must answer these
 * with a 4xx (or close the connection) and go on serving.
 */
export interface AbuseCase { name: string, request: string, expect: (status: number | null) => boolean }

const is4xx = (s: number | null): boolean => s !== null && s >= 400 && s < 500

export const ABUSE_CASES: AbuseCase[] = [
  { name: 'absolute target that is not a URL', request: 'GET http://[/ HTTP/1.1\r\nHost: x\r\n\r\n', expect: s => s === 400 },
  { name: 'bad percent-encoding under /health/', request: 'GET /health/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n', expect: is4xx },
  { name: 'bad percent-encoding elsewhere', request: 'GET /%ZZ%E0 HTTP/1.1\r\nHost: x\r\n\r\n', expect: is4xx },
  { name: 'garbage request line', request: 'HELLO\r\n\r\n', expect: s => s === 400 },
  { name: 'bad HTTP version', request: 'GET / HTTP/9.Z\r\n\r\n', expect: s => s === 400 },
  { name: 'header without a colon', request: 'GET /healthz HTTP/1.1\r\nHost x\r\n\r\n', expect: s => s === 400 },
  { name: 'NUL in the target', request: 'GET /he\u0000althz HTTP/1.1\r\nHost: x\r\n\r\n', expect: s => s === 400 },
  { name: 'oversized header', request: `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, expect: s => s === 431 || s === 400 },
  { name: 'conflicting lengths', request: 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', expect: s => s === 400 }
]

/** Sends `request` raw and resolves with the status of the first response (null: closed without one). */
export function rawRequest (port: number, request: string, timeoutMs = 5000): Promise<number | null> {
  return new Promise(resolve => {
    const socket = connect(port, '127.0.0.1')
    let data = ''
    const done = (status: number | null): void => { clearTimeout(timer); socket.destroy(); resolve(status) }
    const timer = setTimeout(() => done(null), timeoutMs)
    socket.on('connect', () => socket.write(request, 'latin1'))
    socket.on('data', chunk => {
      data += chunk.toString('latin1')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(data)
      if (m !== null) done(Number(m[1]))
    })
    socket.on('error', () => done(null))
    socket.on('close', () => done(null))
  })
}

/**
 * A client that sends half a request head and then nothing: resolves with the ms until the
 * server closed the connection (null if still open after `waitMs`).
 */
export function slowClient (port: number, waitMs: number): Promise<number | null> {
  return new Promise(resolve => {
    const started = Date.now()
    const socket = connect(port, '127.0.0.1')
    const timer = setTimeout(() => { socket.destroy(); resolve(null) }, waitMs)
    socket.on('connect', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: '))
    socket.on('error', () => {})
    socket.resume() // read (and discard) the 408, or the server's close is never seen
    socket.on('close', () => { clearTimeout(timer); resolve(Date.now() - started) })
  })
}

/**
 * Every abuse case against `port`, a slow client held open meanwhile, then `/healthz`:
 * resolves with the problems found (empty when the server behaved).
 */
export async function abuseHttp (port: number, slowWaitMs: number): Promise<string[]> {
  const problems: string[] = []
  const slow = slowClient(port, slowWaitMs)
  for (const c of ABUSE_CASES) {
    const status = await rawRequest(port, c.request)
    if (!c.expect(status)) problems.push(`${c.name}: got ${status ?? 'no response'}`)
  }
  const healthy = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
  if (healthy !== 200) problems.push(`/healthz while a slow client waits: got ${healthy ?? 'no response'}`)
  if (await slow === null) problems.push(`a slow client was still connected after ${slowWaitMs} ms`)
  const after = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
  if (after !== 200) problems.push(`/healthz afterwards: got ${after ?? 'no response'}`)
  return problems
}
