import { createServer } from 'node:net'

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
