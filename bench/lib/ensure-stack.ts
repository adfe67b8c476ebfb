import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ROOT } from './stack.ts'

/** Brings the detached stack up when it is not running (idempotent: a running stack is reused). */
export function ensureStack (): void {
  const cli = join(ROOT, 'src', 'cli.ts')
  const status = spawnSync(process.execPath, [cli, 'stack', 'status'], { cwd: ROOT, encoding: 'utf8' })
  if (status.status === 0) return
  process.stderr.write('stack not running; starting it (npm run stack -- up)\n')
  const up = spawnSync(process.execPath, [cli, 'stack', 'up'], { cwd: ROOT, stdio: 'inherit' })
  if (up.status !== 0) throw new Error('could not bring the stack up; see .stack/logs/stack.log')
}
