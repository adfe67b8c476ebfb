import { chownSync, copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { addControllersToFile, writeDynsecFile, type FileAccount } from '../broker/dynsec-file.ts'
import { ensurePki } from '../broker/pki.ts'
import { brokerAccount, stackPki, type BrokerAccount } from './broker-accounts.ts'
import type { Component } from './component.ts'
import type { StackPaths } from './config.ts'
import { templatePath } from './templates.ts'
import { canTraverse, isRoot, ownedDir, systemUser, type SystemUser } from './users.ts'
import { waitUntil } from './wait.ts'

/** Connects with MQTT v5 as `account` and disconnects: the broker really speaks the protocol and checks credentials. */
export async function mqttReady (port: number, account: BrokerAccount): Promise<boolean> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 2_000, clientId: `f2-stack-probe-${process.pid}`, ...account
  })
  await client.endAsync()
  return true
}

/** When root, run as the `mosquitto` user (as the Debian service does) rather than as root. */
function brokerUser (): SystemUser | undefined {
  return isRoot() ? systemUser('mosquitto') : undefined
}

const PLUGIN_DIRS = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/local/lib']

/** Mosquitto's dynamic security plugin (Debian: package mosquitto, multiarch library directory). */
export function dynsecPluginPath (): string {
  for (const dir of PLUGIN_DIRS) {
    const path = join(dir, 'mosquitto_dynamic_security.so')
    if (existsSync(path)) return path
  }
  throw new Error(`mosquitto_dynamic_security.so not found in ${PLUGIN_DIRS.join(', ')} (install Mosquitto 2.0 or later)`)
}

export interface MosquittoConfValues {
  dynsecPlugin: string
  dataDir: string
  pkiDir: string
  mqttPort: string
  mqttsPort: string
  mqttsPasswordPort: string
  deviceBind: string
}

/** templates/mosquitto/mosquitto.conf with its {{placeholders}} filled in. */
export function renderMosquittoConf (root: string, values: MosquittoConfValues): string {
  const base = readFileSync(templatePath(root, 'mosquitto', 'mosquitto.conf'), 'utf8')
  return base.replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    const v = (values as unknown as Record<string, string | undefined>)[key]
    if (v === undefined) throw new Error(`templates/mosquitto/mosquitto.conf: unknown placeholder {{${key}}}`)
    return v
  })
}

/** Where the broker's data (and its dynamic security file) live: .stack/data, or a system directory its user can reach. */
function mosquittoDataDir (paths: StackPaths, user: ReturnType<typeof brokerUser>): string {
  const preferred = join(paths.dataDir, 'mosquitto')
  return user === undefined || canTraverse(join(preferred, 'x'), user) ? preferred : join(paths.systemDataDir, 'mosquitto')
}

/** The broker's dynamic security file. */
export const brokerDynsecFile = (paths: StackPaths): string => join(mosquittoDataDir(paths, brokerUser()), 'dynamic-security.json')

/** The plugin's file with the service accounts of this stack (created, or brought in step). */
function prepareDynsecFile (paths: StackPaths, dataDir: string, user: ReturnType<typeof brokerUser>): string {
  const file = join(dataDir, 'dynamic-security.json')
  writeDynsecFile(file, {
    admin: brokerAccount(paths, 'admin').password,
    connector: brokerAccount(paths, 'connector').password,
    health: brokerAccount(paths, 'health').password,
    dispatcher: brokerAccount(paths, 'dispatcher').password
  }, user)
  return file
}

/**
 * Writes controller accounts into the stopped broker's file (a large simulated fleet: over
 * MQTT the plugin rewrites its file after every account). The caller makes sure the stack is down.
 */
export function addAccountsOffline (paths: StackPaths, accounts: readonly FileAccount[]): string {
  const user = brokerUser()
  const dataDir = mosquittoDataDir(paths, user)
  ownedDir(dataDir, user)
  const file = prepareDynsecFile(paths, dataDir, user)
  addControllersToFile(file, accounts)
  return file
}

export function mosquittoComponent (): Component {
  return {
    name: 'mosquitto',
    ports: cfg => [cfg.mqttPort, cfg.mqttsPort, cfg.mqttsPasswordPort],
    async prepare (ctx) {
      const user = brokerUser()
      const dataDir = mosquittoDataDir(ctx.paths, user)
      ownedDir(dataDir, user)
      const own = (file: string): void => { if (user !== undefined) chownSync(file, user.uid, user.gid) }

      // The CA stays in .stack/pki; the broker gets copies of what it serves with.
      const pki = ensurePki(stackPki(ctx.paths).dir, ['localhost', '127.0.0.1', '::1', hostname(), ...(ctx.cfg.mqttDeviceBind === '127.0.0.1' ? [] : [ctx.cfg.mqttDeviceBind])])
      const pkiDir = join(dataDir, 'pki')
      ownedDir(pkiDir, user)
      for (const [from, to] of [[pki.caCert, 'ca.crt'], [pki.serverCert, 'server.crt'], [pki.serverKey, 'server.key']] as const) {
        copyFileSync(from, join(pkiDir, to))
        own(join(pkiDir, to))
      }

      prepareDynsecFile(ctx.paths, dataDir, user)

      const body = renderMosquittoConf(ctx.paths.root, {
        dynsecPlugin: dynsecPluginPath(),
        dataDir,
        pkiDir,
        mqttPort: String(ctx.cfg.mqttPort),
        mqttsPort: String(ctx.cfg.mqttsPort),
        mqttsPasswordPort: String(ctx.cfg.mqttsPasswordPort),
        deviceBind: ctx.cfg.mqttDeviceBind
      })
      // Rendered next to the data so the broker's user can read it wherever the data lives.
      const rendered = join(dataDir, 'mosquitto.conf')
      // Mosquitto started as root would switch to a `mosquitto` user; with none, it must stay root.
      const userLine = isRoot() && user === undefined ? 'user root\n' : ''
      writeFileSync(rendered, `${body}\n# rendered by src/stack/mosquitto.ts\n${userLine}`)
      const probe = brokerAccount(ctx.paths, 'health')
      return {
        name: 'mosquitto',
        command: '/usr/sbin/mosquitto',
        args: ['-c', rendered],
        cwd: dataDir,
        ...(user === undefined ? {} : { user: { uid: user.uid, gid: user.gid } }),
        logFile: join(ctx.paths.logsDir, 'mosquitto.log'),
        ready: signal => waitUntil('mosquitto to accept MQTT v5 connections', () => mqttReady(ctx.cfg.mqttPort, probe), { timeoutMs: 30_000, intervalMs: 200, signal })
      }
    }
  }
}
