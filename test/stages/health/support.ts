import { spawn, type ChildProcess } from 'node:child_process'
import { Socket } from 'node:net'
import { freePort } from '../../../src/stack/ports.ts'
export { freePort }
import { waitFor } from '../../../harness/wait.ts'

/** A TCP port that was free a moment ago on 127.0.0.1. */

/** A private Mosquitto on `port` (loopback only), so a test can stop a broker nobody else uses. */
export async function startMosquitto (port: number): Promise<{ stop: () => Promise<void> }> {
  const child: ChildProcess = spawn('mosquitto', ['-p', String(port)], { stdio: 'ignore' })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  await waitFor(`mosquitto on ${port}`, () => new Promise<boolean>(resolve => {
    const socket = new Socket()
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
    socket.connect(port, '127.0.0.1')
  }), 5000)
  return {
    stop: async () => {
      child.kill('SIGTERM')
      await exited
    }
  }
}
