import { chownSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { initialDynsecFile, type DynsecFile, type ServicePasswords } from './dynsec.ts'

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
