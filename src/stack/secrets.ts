import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { StackPaths } from './config.ts'

/**
 * Secrets of the native stack (database and broker passwords): generated at first use and
 * kept under `.stack/secrets/<name>` (mode 0600, git-ignored with the rest of `.stack/`), so
 * no working password is ever written in a committed file. The same name always gives the
 * same secret until `.stack/` is removed.
 */
export function secretsDir (paths: StackPaths): string {
  return join(paths.stackDir, 'secrets')
}

const NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/

/** Reads the secret `name`, creating it (24 random bytes, base64url) when it does not exist yet. */
export function stackSecret (paths: StackPaths, name: string): string {
  if (!NAME.test(name)) throw new TypeError(`invalid secret name ${JSON.stringify(name)}`)
  const dir = secretsDir(paths)
  const file = join(dir, name)
  try {
    return readFileSync(file, 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  const secret = randomBytes(24).toString('base64url')
  try {
    // `wx`: two processes creating the same secret at once agree on the first one written.
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: 'wx' })
    return secret
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return readFileSync(file, 'utf8').trim()
  }
}

/** Reads the secret `name` without creating it: undefined when the stack never made it. */
export function readStackSecret (paths: StackPaths, name: string): string | undefined {
  if (!NAME.test(name)) throw new TypeError(`invalid secret name ${JSON.stringify(name)}`)
  try {
    return readFileSync(join(secretsDir(paths), name), 'utf8').trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
