import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { projectRoot } from '../../src/stack/config.ts'

/**
 * `npm run bench:state-rows` at a small scale against the stack's time-series PostgreSQL: the
 * rows are written through the fleet stage's own store, the table's fillfactor is the
 * migrated one unless given, and the server's CPU is counted.
 */
const root = projectRoot()

function run (...args: string[]): { rowsWritten: number, fillfactor: number, serverCpuSeconds: number, serverCpuMicrosPerRow: number } {
  const out = spawnSync(process.execPath, [join(root, 'bench', 'state-rows.ts'), '--controllers', '500', '--seconds', '3', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  expect(out.status, out.stderr.slice(-2000)).toBe(0)
  return JSON.parse(out.stdout.trim().split('\n').at(-1) as string)
}

describe('state-rows benchmark', () => {
  it('rewrites every controller\'s row per flush and reports the server\'s CPU per row, with the migrated fillfactor or the given one', () => {
    const migrated = run()
    expect(migrated.fillfactor).toBe(50)
    expect(migrated.rowsWritten % 500).toBe(0)
    expect(migrated.rowsWritten).toBeGreaterThanOrEqual(1000)
    expect(migrated.serverCpuSeconds).toBeGreaterThan(0)
    expect(migrated.serverCpuMicrosPerRow).toBeGreaterThan(0)
    expect(run('--fillfactor', '100').fillfactor).toBe(100)
  }, 120_000)
})
