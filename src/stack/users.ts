import { chownSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, parse } from 'node:path'

export interface SystemUser { name: string, uid: number, gid: number }

export function isRoot (): boolean {
  return process.getuid?.() === 0
}

/** Looks `name` up in /etc/passwd (no NSS: the users we need are local system users). */
export function systemUser (name: string): SystemUser | undefined {
  let passwd: string
  try { passwd = readFileSync('/etc/passwd', 'utf8') } catch { return undefined }
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':')
    if (user === name && uid !== undefined && gid !== undefined) return { name, uid: Number(uid), gid: Number(gid) }
  }
  return undefined
}

/**
 * True when `user` may pass through every directory above `path` (the x bit for owner, group
 * or others). Directories that do not exist yet count as passable: we create them 0755.
 */
export function canTraverse (path: string, user: SystemUser): boolean {
  let dir = dirname(path)
  const { root } = parse(path)
  for (;;) {
    let st
    try { st = statSync(dir) } catch { st = undefined }
    if (st !== undefined) {
      const mode = st.mode
      const ok = st.uid === user.uid ? (mode & 0o100) !== 0 : st.gid === user.gid ? (mode & 0o010) !== 0 : (mode & 0o001) !== 0
      if (!ok) return false
    }
    if (dir === root) return true
    dir = dirname(dir)
  }
}

/** Creates `path` (and parents) and hands `path` itself to `user` when we are root. */
export function ownedDir (path: string, user: SystemUser | undefined, mode = 0o700): void {
  mkdirSync(path, { recursive: true, mode })
  if (user !== undefined && isRoot()) chownSync(path, user.uid, user.gid)
}
