import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrokerAdmin } from '../src/broker/control.ts'
import { ACCOUNTS, initialDynsecFile } from '../src/broker/dynsec.ts'
import { ensurePki, type PkiPaths } from '../src/broker/pki.ts'
import { projectRoot } from '../src/stack/config.ts'
import { dynsecPluginPath, mqttReady, renderMosquittoConf } from '../src/stack/mosquitto.ts'
import { freePort } from '../src/stack/ports.ts'

/**
 * A throw-away Mosquitto on free ports, configured from the shipped
 * templates/mosquitto/mosquitto.conf (accounts, TLS listeners, topic rules) with a CA and
 * service accounts of its own. The F2 topic grammar fixes every topic by MAC, so on the
 * shared broker a running `npm start` (whose simulator plays the same sample controllers)
 * would feed its readings into a test's connector and take copies of the test's messages
 * into its own pipeline; a broker of its own keeps a test's traffic exact.
 */
export interface PrivateMosquitto {
  pid: number
  port: number
  /** Plain listener (services). */
  url: string
  /** TLS listener for certificate controllers, and for password controllers. */
  mqttsUrl: string
  mqttsPasswordUrl: string
  pki: PkiPaths
  ca: string
  admin: BrokerAdmin
  connector: { username: string, password: string }
  health: { username: string, password: string }
  dispatcher: { username: string, password: string }
  /** The broker's log so far. */
  log: () => string
  stop: () => Promise<void>
}

export interface PrivateMosquittoOptions {
  /**
   * The broker as it was before access control (anonymous clients, no plugin, no TLS): the
   * benchmarks' baseline and the durability tests, which restart it; the account fields of
   * the result are then unused.
   */
  open?: boolean
  /** Listen here (a restart of an earlier broker); a free port by default. */
  port?: number
  /** Persistence lines (`persistence true`, `autosave_*`, `persistence_location ...`); none by default. */
  persistence?: string
  /** Changes the plugin's file (its path given) after it is written and before the broker starts. */
  editDynsec?: (file: string) => Promise<void> | void
}

/** The persistence settings of the stack's broker (templates/mosquitto/mosquitto.conf), stored under `dir`. */
export function stackPersistence (dir: string): string {
  const conf = readFileSync(join(projectRoot(), 'templates', 'mosquitto', 'mosquitto.conf'), 'utf8')
  const lines = conf.split('\n').filter(l => /^(persistence|persistence_file|autosave_\w+)\s/.test(l) && !l.includes('{{'))
  return [...lines, `persistence_location ${dir}/`].join('\n')
}

export async function startPrivateMosquitto (options: PrivateMosquittoOptions = {}): Promise<PrivateMosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'f2-mqtt-'))
  const [port, mqttsPort, mqttsPasswordPort] = [options.port ?? await freePort(), await freePort(), await freePort()]
  const pki = ensurePki(join(dir, 'pki'), ['localhost', '127.0.0.1'])
  const data = join(dir, 'data')
  mkdirSync(data)
  const secret = (): string => randomBytes(18).toString('base64url')
  const passwords = { admin: secret(), connector: secret(), health: secret(), dispatcher: secret() }
  writeFileSync(join(data, 'dynamic-security.json'), JSON.stringify(initialDynsecFile(passwords)))
  await options.editDynsec?.(join(data, 'dynamic-security.json'))
  const conf = join(dir, 'mosquitto.conf')
  const secured = renderMosquittoConf(projectRoot(), {
    dynsecPlugin: dynsecPluginPath(), dataDir: data, pkiDir: pki.dir, mqttPort: String(port),
    mqttsPort: String(mqttsPort), mqttsPasswordPort: String(mqttsPasswordPort), deviceBind: '127.0.0.1'
  })
  const body = options.open === true
    ? `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\nmax_inflight_messages 100\nlog_dest stderr\nlog_type error\nlog_type warning\n`
    : secured
  // As shipped, minus persistence unless asked for (nothing outlives the test).
  const persistence = options.persistence ?? 'persistence false'
  const withoutPersistence = body.split('\n').filter(l => !/^(persistence|persistence_file|persistence_location|autosave_\w+)\s/.test(l)).join('\n')
  const user = process.getuid?.() === 0 ? 'user root\n' : ''
  writeFileSync(conf, `${withoutPersistence}\n${persistence}\n${user}`)
  const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let log = ''
  child.stderr.on('data', (d: Buffer) => { log = (log + d.toString()).slice(-200_000) })
  const health = { username: ACCOUNTS.health, password: passwords.health }
  const until = Date.now() + 15_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode}: ${log}`)
    if (await mqttReady(port, health).catch(() => false)) break
    if (Date.now() > until) { child.kill('SIGKILL'); throw new Error(`mosquitto on ${port} not ready after 15 s: ${log}`) }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  const url = `mqtt://127.0.0.1:${port}`
  return {
    pid: child.pid ?? 0,
    port,
    url,
    mqttsUrl: `mqtts://localhost:${mqttsPort}`,
    mqttsPasswordUrl: `mqtts://localhost:${mqttsPasswordPort}`,
    pki,
    ca: readFileSync(pki.caCert, 'utf8'),
    admin: { url, username: ACCOUNTS.admin, password: passwords.admin },
    connector: { username: ACCOUNTS.connector, password: passwords.connector },
    health,
    dispatcher: { username: ACCOUNTS.dispatcher, password: passwords.dispatcher },
    log: () => log,
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
