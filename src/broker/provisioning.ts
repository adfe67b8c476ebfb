import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import { normalizeMacLenient } from '../core/topic.ts'
import type { BrokerControl } from './control.ts'
import { addControllersToFile } from './dynsec-file.ts'
import { controllerAccount, controllerTextname, grantControllerCommands, revokeControllerCommands } from './dynsec.ts'
import { issueClientCertificate, type PkiPaths } from './pki.ts'

/**
 * Broker credentials of controllers: issuing (a password shown once, or a certificate and key
 * of the project CA), rotating (issuing again replaces the old credentials) and revoking.
 */
export type CredentialKind = 'password' | 'certificate'

export interface IssuedCredentials {
  mac: string
  /** Username, client id and certificate CN: `f2-<mac>`. */
  account: string
  kind: CredentialKind
  /** Only for `password`: not stored anywhere, in clear, after this. */
  password?: string
  /** Only for `certificate`: the files written (key 0600). */
  files?: { cert: string, key: string, ca: string }
}

function mac (raw: string): string {
  const m = normalizeMacLenient(String(raw))
  if (m === null) throw new F2Error(ErrorCodes.REGISTRY_INVALID_CHANGE, `not a MAC address: '${String(raw).slice(0, 40)}'`)
  return m
}

export const newControllerPassword = (): string => randomBytes(18).toString('base64url')

/** Controllers per control message: the plugin rewrites its file after every command, so batches stay small. */
const BATCH = 50

/** One controller's new credentials, and the password its account gets (none for a certificate). */
function issue (raw: string, kind: CredentialKind, options: { pki?: PkiPaths, outDir?: string }): { issued: IssuedCredentials, password: string | undefined } {
  const m = mac(raw)
  const account = controllerAccount(m)
  if (kind === 'password') {
    const password = newControllerPassword()
    return { issued: { mac: m, account, kind, password }, password }
  }
  if (options.pki === undefined || options.outDir === undefined) throw new TypeError('certificates need the CA and an output directory')
  const cert = issueClientCertificate(options.pki, account)
  mkdirSync(options.outDir, { recursive: true, mode: 0o700 })
  const files = { cert: join(options.outDir, `${account}.crt`), key: join(options.outDir, `${account}.key`), ca: join(options.outDir, 'ca.crt') }
  writeFileSync(files.cert, cert.certPem)
  writeFileSync(files.key, cert.keyPem, { mode: 0o600 })
  writeFileSync(files.ca, cert.caPem)
  return { issued: { mac: m, account, kind, files }, password: undefined }
}

/**
 * Gives each controller of `macs` an account and its topics. Certificates need the CA
 * (`pki`) and a directory to write `f2-<mac>.crt`/`.key` and `ca.crt` into.
 */
export async function grantControllers (
  control: BrokerControl,
  macs: readonly string[],
  kind: CredentialKind,
  options: { pki?: PkiPaths, outDir?: string } = {}
): Promise<IssuedCredentials[]> {
  const issued: IssuedCredentials[] = []
  for (let i = 0; i < macs.length; i += BATCH) {
    const batch = macs.slice(i, i + BATCH).map(raw => issue(raw, kind, options))
    await control.run(batch.flatMap(b => grantControllerCommands(b.issued.mac, b.password)))
    issued.push(...batch.map(b => b.issued))
  }
  return issued
}

/**
 * The same as grantControllers for a broker that is stopped: the accounts are written into its
 * dynamic security file (`dynsecFile`) in one pass, which a large fleet needs (over MQTT the
 * plugin rewrites its file after every command). The broker has them when it starts.
 */
export function grantControllersOffline (
  dynsecFile: string,
  macs: readonly string[],
  kind: CredentialKind,
  options: { pki?: PkiPaths, outDir?: string } = {}
): IssuedCredentials[] {
  const batch = macs.map(raw => issue(raw, kind, options))
  addControllersToFile(dynsecFile, batch.map(b => ({ mac: b.issued.mac, password: b.password, textname: controllerTextname(b.issued.mac) })))
  return batch.map(b => b.issued)
}

/** Removes the controllers' accounts: connected ones are disconnected at once, new connections refused. */
export async function revokeControllers (control: BrokerControl, macs: readonly string[]): Promise<void> {
  for (let i = 0; i < macs.length; i += BATCH) {
    await control.run(macs.slice(i, i + BATCH).flatMap(m => revokeControllerCommands(mac(m))))
  }
}
