import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { projectRoot } from '../../src/stack/config.ts'
import { mqttReady } from '../../src/stack/mosquitto.ts'
import { freePort } from '../../src/stack/ports.ts'

/**
 * A throw-away Mosquitto on a free port. The F2 topic grammar fixes every topic by MAC, so
 * on the shared broker a running `npm start` (whose simulator plays the same sample
 * controllers) would feed its readings into a test's connector and take copies of the
 * test's messages into its own pipeline; a broker of its own keeps a test's traffic exact.
 */
export interface PrivateMosquitto { port: number, url: string, pid: number, stop: () => Promise<void> }

export interface PrivateMosquittoOptions {
  /** Listen here (a restart of an earlier broker); a free port by default. */
  port?: number
  /** Persistence lines (`persistence true`, `autosave_*`, `persistence_location ...`); none by default. */
  persistence?: string
}

/** The persistence settings of the stack's broker (stack/mosquitto/mosquitto.conf), stored under `dir`. */
export function stackPersistence (dir: string): string {
  const conf = readFileSync(join(projectRoot(), 'stack', 'mosquitto', 'mosquitto.conf'), 'utf8')
  const lines = conf.split('\n').filter(l => /^(persistence|persistence_file|autosave_\w+)\s/.test(l))
  return [...lines, `persistence_location ${dir}/`].join('\n')
}

export async function startPrivateMosquitto (options: PrivateMosquittoOptions = {}): Promise<PrivateMosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'f2-mqtt-'))
  const port = options.port ?? await freePort()
  const conf = join(dir, 'mosquitto.conf')
  // As stack/mosquitto/mosquitto.conf, minus persistence unless asked for (nothing outlives the test).
  const user = process.getuid?.() === 0 ? 'user root\n' : ''
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\n${options.persistence ?? 'persistence false'}\nmax_queued_messages 100000\nmax_inflight_messages 100\nlog_dest stderr\nlog_type error\nlog_type warning\n${user}`)
  const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-4000) })
  const until = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${log}`)
    if (await mqttReady(port).catch(() => false)) break
    if (Date.now() > until) { child.kill('SIGKILL'); throw new Error(`mosquitto on ${port} not ready after 15 s: ${log}`) }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid as number,
    async stop () {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise(resolve => child.once('exit', resolve))
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 5000))])
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
