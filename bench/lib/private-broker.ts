import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { portOpen, ROOT } from './stack.ts'
import { freePort } from '../../src/stack/ports.ts'

/**
 * A throw-away Mosquitto with the stack's settings (same config file, own port, no
 * persistence): the bad-input corpus subscribes to `#` there, so nothing else on the shared
 * broker reaches its pipeline and nothing of the corpus reaches anyone else.
 */
export interface PrivateBroker { url: string, port: number, stop: () => Promise<void> }


export async function startPrivateBroker (): Promise<PrivateBroker> {
  const dir = mkdtempSync(join(tmpdir(), 'f2-mqtt-'))
  const port = await freePort()
  const base = readFileSync(join(ROOT, 'stack', 'mosquitto', 'mosquitto.conf'), 'utf8')
    .replace(/^listener\s+\d+.*$/m, `listener ${port} 127.0.0.1`)
    .replace(/^persistence\s+true/m, 'persistence false')
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, `${base}\n${process.getuid?.() === 0 ? 'user root\n' : ''}`)
  const child: ChildProcess = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: 'ignore' })
  const until = Date.now() + 10_000
  while (!await portOpen(port)) {
    if (child.exitCode !== null || Date.now() > until) throw new Error(`private mosquitto did not start (exit ${child.exitCode})`)
    await sleep(100)
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise(resolve => child.once('exit', resolve))
        child.kill('SIGTERM')
        await Promise.race([exited, sleep(5000)])
      }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
