import { spawn, type ChildProcess } from 'node:child_process'
import { Socket } from 'node:net'
import { freePort } from '../../../src/stack/ports.ts'
export { freePort }

/** A TCP port that was free a moment ago on 127.0.0.1. */

/** Polls until `predicate` holds; returns the elapsed milliseconds or throws after `timeoutMs`. */
export async function waitFor (predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now()
  for (;;) {
    if (await predicate()) return Date.now() - started
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** A private Mosquitto on `port` (loopback only), so a test can stop a broker nobody else uses. */
export async function startMosquitto (port: number): Promise<{ stop: () => Promise<void> }> {
  const child: ChildProcess = spawn('mosquitto', ['-p', String(port)], { stdio: 'ignore' })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  await waitFor(() => new Promise<boolean>(resolve => {
    const socket = new Socket()
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
    socket.connect(port, '127.0.0.1')
  }), 5000, `mosquitto on ${port}`)
  return {
    stop: async () => {
      child.kill('SIGTERM')
      await exited
    }
  }
}
