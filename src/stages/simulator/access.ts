import { createHmac } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Logger } from '../../adapters/logger.ts'
import type { MqttTls } from '../../adapters/mqtt.ts'
import { connectBrokerControl } from '../../broker/control.ts'
import type { FileAccount } from '../../broker/dynsec-file.ts'
import { controllerAccount, grantControllerCommands, type Command } from '../../broker/dynsec.ts'
import { ErrorCodes, F2Error } from '../../core/errors.ts'
import type { SimulatorConfig } from './config.ts'

/** How one simulated controller reaches the broker: its own account, over TLS unless asked otherwise. */
export interface DeviceAccess {
  url: string
  username: string
  password: string
  clientId: string
  tls?: MqttTls
}

export type AccessFor = (mac: string) => DeviceAccess

/**
 * A simulated controller's password, derived from the admin password: the same on every start,
 * so accounts made by an earlier run still work, and nobody without the admin password (who
 * can change any account anyway) can compute it.
 */
export const simulatedPassword = (adminPassword: string, mac: string): string =>
  createHmac('sha256', adminPassword).update(`f2-simulator:${mac}`).digest('base64url')

/** `mac,username,password` lines, as `registry add-controllers` writes them (a header line is skipped). */
export function parseCredentialsCsv (text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const [mac, username, password] = line.trim().split(',')
    if (mac === undefined || username === undefined || password === undefined || mac === 'mac' || password === '') continue
    out.set(mac.toLowerCase(), password)
  }
  return out
}

/** The simulated controllers' accounts as the broker's file holds them (written with the broker stopped). */
export function simulatedAccounts (adminPassword: string, macs: readonly string[]): FileAccount[] {
  return macs.map(mac => ({ mac, password: simulatedPassword(adminPassword, mac), textname: SIMULATED }))
}

const BATCH = 50
/** The text name of the accounts a simulator made (dynamic security `textname`). */
const SIMULATED = 'simulated controller'

/**
 * The accounts of the controllers the simulator plays. With SIM_CREDENTIALS_FILE, the passwords
 * issued by `registry add-controllers`; otherwise, as the broker's admin, it gives each of them
 * an account (a missing one with its topics, an existing one a new password) — the simulator
 * is a development tool: it changes the passwords of the controllers it plays.
 */
/** What prepareAccess needs of the simulator's settings (the benchmark's load generator passes the same). */
export type AccessSettings = Pick<SimulatorConfig, 'transport' | 'mqttUrl' | 'mqttTlsUrl' | 'mqttCaFile' | 'adminUsername' | 'adminPassword' | 'credentialsFile'>

export async function prepareAccess (config: AccessSettings, macs: readonly string[], logger: Logger): Promise<AccessFor> {
  const url = config.transport === 'tls' ? config.mqttTlsUrl : config.mqttUrl
  const tls = config.transport === 'tls' ? (config.mqttCaFile === undefined ? {} : { ca: readFileSync(config.mqttCaFile) }) : undefined
  let passwords: Map<string, string>
  if (config.credentialsFile !== undefined) {
    passwords = parseCredentialsCsv(readFileSync(config.credentialsFile, 'utf8'))
    const missing = macs.filter(m => !passwords.has(m))
    if (missing.length > 0) throw new F2Error(ErrorCodes.CONFIG_INVALID, `${config.credentialsFile} has no password for ${missing.length} controller(s), e.g. ${missing[0] ?? ''}`)
  } else if (config.adminPassword !== undefined) {
    const admin = config.adminPassword
    passwords = new Map(macs.map(m => [m, simulatedPassword(admin, m)]))
    const control = await connectBrokerControl({ url: config.mqttUrl, username: config.adminUsername, password: admin })
    try {
      const [listed] = await control.run([{ command: 'listClients', verbose: true }])
      const existing = new Map(((listed?.data as { clients?: Array<{ username: string, textname?: string }> } | undefined)?.clients ?? []).map(c => [c.username, c.textname]))
      let created = 0
      let changed = 0
      for (let i = 0; i < macs.length; i += BATCH) {
        const commands: Command[] = macs.slice(i, i + BATCH).flatMap((m): Command[] => {
          const password = passwords.get(m) as string
          const account = controllerAccount(m)
          // Made by a simulator already: the password is the derived one. Changing a password
          // disconnects the account's client, which would cut a fleet that is being reloaded.
          if (existing.get(account) === SIMULATED) return []
          if (existing.has(account)) {
            changed++
            return [{ command: 'setClientPassword', username: account, password }, { command: 'modifyClient', username: account, textname: SIMULATED }]
          }
          created++
          return grantControllerCommands(m, password).map(c => c.command === 'createClient' ? { ...c, textname: SIMULATED } : c)
        })
        await control.run(commands, 60_000)
      }
      logger.info({ controllers: macs.length, created, passwordsChanged: changed }, 'broker accounts of the simulated controllers ready')
    } finally {
      await control.close()
    }
  } else {
    throw new F2Error(ErrorCodes.CONFIG_INVALID, 'the simulator connects as each controller it plays: set MQTT_ADMIN_PASSWORD (it provisions them) or SIM_CREDENTIALS_FILE')
  }
  return mac => {
    const account = controllerAccount(mac)
    return { url, username: account, clientId: account, password: passwords.get(mac) ?? '', ...(tls === undefined ? {} : { tls }) }
  }
}
