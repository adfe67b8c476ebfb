import { spawnSync } from 'node:child_process'
import { createConnection, createServer } from 'node:net'
import { ErrorCodes, F2Error } from '../core/errors.ts'

/** True when something accepts TCP connections on 127.0.0.1:`port`. */
export function isPortOpen (port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<boolean> {
  return new Promise(resolve => {
    const socket = createConnection({ port, host })
    const done = (open: boolean): void => { socket.destroy(); resolve(open) }
    socket.setTimeout(timeoutMs, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** Best-effort description of the process listening on `port` (needs `ss`; empty when unknown). */
export function portOwner (port: number): string {
  const out = spawnSync('ss', ['-Hltnp', `sport = :${port}`], { encoding: 'utf8' })
  if (out.status !== 0) return ''
  const match = /users:\(\("([^"]+)",pid=(\d+)/.exec(out.stdout)
  return match === null ? '' : `${match[1]} (pid ${match[2]})`
}

/**
 * Throws F2_PORT_IN_USE naming the first of `ports` that is taken, who holds it if known,
 * and what to do about it.
 */
export async function assertPortsFree (component: string, ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    if (!await isPortOpen(port)) continue
    const owner = portOwner(port)
    throw new F2Error(ErrorCodes.PORT_IN_USE,
      `port ${port} (needed by ${component}) is already in use${owner === '' ? '' : ` by ${owner}`}. ` +
      'Stop that process (for a system service, e.g. `systemctl stop <service>`), or if it is an earlier run of this stack, ' +
      'run `npm run stack -- down`; then try again.',
      { details: { port, component, owner } })
  }
}

/**
 * Ports for child processes, which cannot report back a port 0 they bound: the kernel
 * picks a free one here, it is released, and the child binds it a moment later. Ports
 * handed out by this process are not handed out twice.
 */
const handedOut = new Set<number>()

async function tryListen (port: number): Promise<number | undefined> {
  return await new Promise(resolve => {
    const s = createServer()
    s.once('error', () => { resolve(undefined) })
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as { port: number }).port
      s.close(() => { resolve(bound) })
    })
  })
}

export async function freePort (): Promise<number> {
  for (;;) {
    const port = await tryListen(0)
    if (port === undefined) throw new Error('no free port on 127.0.0.1')
    if (!handedOut.has(port)) { handedOut.add(port); return port }
  }
}

/** True when nothing listens on `port` on 127.0.0.1 right now. */
export async function portFree (port: number): Promise<boolean> {
  return (await tryListen(port)) !== undefined
}

/** Distinct free ports, `count` of them. */
export async function freePorts (count: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < count; i++) out.push(await freePort())
  return out
}
