import { execFileSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../src/stack/ports.ts'

/**
 * A throw-away PostgreSQL cluster the test may stop and start at will (the stack's shared
 * servers must not be restarted under other tests). Runs as the `postgres` system user
 * when the test runs as root, trust authentication on 127.0.0.1 only.
 */
const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin'

export interface PrivatePostgres { url: string, port: number, stop: (mode?: 'fast' | 'immediate') => void, start: () => void, destroy: () => void }


export async function startPrivatePostgres (): Promise<PrivatePostgres> {
  const dir = mkdtempSync(join(tmpdir(), 'f2-pg-'))
  chmodSync(dir, 0o777)
  const data = join(dir, 'data')
  const port = await freePort()
  const asPostgres = process.getuid?.() === 0
  const run = (bin: string, args: string[]): void => {
    const cmd = join(PG_BIN, bin)
    if (asPostgres) execFileSync('runuser', ['-u', 'postgres', '--', cmd, ...args], { stdio: 'pipe' })
    else execFileSync(cmd, args, { stdio: 'pipe' })
  }
  run('initdb', ['-D', data, '-U', 'ts_user', '--auth=trust', '-E', 'UTF8', '--no-sync'])
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`
  const start = (): void => run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', 'start'])
  start()
  return {
    url: `postgres://ts_user@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop: (mode = 'immediate') => run('pg_ctl', ['-D', data, '-m', mode, '-w', 'stop']),
    destroy: () => {
      try { run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']) } catch { /* already stopped */ }
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
