import { chownSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import { controllerAccount, controllerRole, hashPassword, initialDynsecFile, type DynsecClient, type DynsecFile, type Role, type ServicePasswords } from './dynsec.ts'

/**
 * The plugin's file as it must be before the broker starts: created on the first start; on
 * later starts the service accounts and roles are brought in step with the current service
 * passwords (the broker is stopped, so editing it is safe) and every other account (the
 * controllers') is kept.
 */
export function syncDynsecFile (current: DynsecFile | undefined, wanted: DynsecFile): DynsecFile {
  if (current === undefined) return wanted
  const services = new Set(wanted.clients.map(c => c.username))
  const roles = new Set(wanted.roles.map(r => r.rolename))
  return {
    ...current,
    defaultACLAccess: wanted.defaultACLAccess,
    clients: [...wanted.clients, ...(current.clients ?? []).filter(c => !services.has(c.username))],
    roles: [...wanted.roles, ...(current.roles ?? []).filter(r => !roles.has(r.rolename))]
  }
}

/** Writes `file` (0600, handed to `owner` when given) for the service `passwords`. */
export function writeDynsecFile (file: string, passwords: ServicePasswords, owner?: { uid: number, gid: number }): void {
  const current = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as DynsecFile : undefined
  writeFileSync(file, `${JSON.stringify(syncDynsecFile(current, initialDynsecFile(passwords)), null, 2)}\n`, { mode: 0o600 })
  if (owner !== undefined) chownSync(file, owner.uid, owner.gid)
}

/** A controller account written straight into the plugin's file (the broker stopped). */
export interface FileAccount {
  mac: string
  /** Plain password, hashed here; undefined for a certificate controller (the broker asks none). */
  password: string | undefined
  textname: string
}

/**
 * `file` with the accounts of `accounts` added, each replacing any account and role of the
 * same name: the same result as the plugin's own commands (grantControllerCommands), without
 * its cost. The plugin rewrites its whole file after every command, so granting n accounts
 * over MQTT costs O(n²) (10 000 took hours); written here, it is one pass.
 */
export function withControllers (file: DynsecFile, accounts: readonly FileAccount[]): DynsecFile {
  const names = new Set(accounts.map(a => controllerAccount(a.mac)))
  const clients: DynsecClient[] = (file.clients ?? []).filter(c => !names.has(c.username))
  const roles: Role[] = (file.roles ?? []).filter(r => !names.has(r.rolename))
  for (const a of accounts) {
    const name = controllerAccount(a.mac)
    const role = controllerRole(a.mac)
    roles.push({ rolename: role.rolename, acls: role.acls.map(acl => ({ ...acl, priority: 0 })) })
    clients.push({ username: name, clientid: name, textname: a.textname, roles: [{ rolename: name }], ...(a.password === undefined ? {} : hashPassword(a.password)) })
  }
  return { ...file, clients, roles }
}

/**
 * Adds `accounts` to the plugin's file at `path`, which must exist (the broker has started
 * once) and must not be in use: a running broker keeps its accounts in memory and overwrites
 * the file at its next change. Written to a temporary file and renamed, mode and owner kept.
 */
export function addControllersToFile (path: string, accounts: readonly FileAccount[]): void {
  if (!existsSync(path)) throw new F2Error(ErrorCodes.CONFIG_INVALID, `${path} does not exist: start the broker once so that it creates its dynamic security file`)
  const current = JSON.parse(readFileSync(path, 'utf8')) as DynsecFile
  const { mode, uid, gid } = statSync(path)
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify(withControllers(current, accounts), null, 2)}\n`, { mode: mode & 0o777 })
  if (process.getuid?.() === 0) chownSync(tmp, uid, gid)
  renameSync(tmp, path)
}
