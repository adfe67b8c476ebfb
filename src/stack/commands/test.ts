import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { join } from 'node:path'
import { isF2Error } from '../../core/errors.ts'
import { brokerEnv } from '../broker-accounts.ts'
import { roleEnv, serviceEnv } from '../config.ts'
import { createContext } from '../context.ts'
import { down, up } from '../detached.ts'
import { runPostStartHooks } from '../hooks.ts'
import { provision } from '../provision.ts'

/**
 * `npm test [-- vitest args]`: installs what is missing, brings the stack up detached unless
 * it already runs, runs the post-start hooks, then `vitest run` with the given arguments.
 * Takes the stack down afterwards only if it started it. Exits with vitest's code.
 */
export async function run (argv: string[]): Promise<number> {
  const ctx = createContext()
  let started = false
  // Ctrl-C reaches vitest directly (same process group); we only make sure to clean up after it.
  const ignore = (): void => {}
  process.on('SIGINT', ignore)
  process.on('SIGTERM', ignore)
  try {
    provision(ctx.paths, ctx.logger, { forTests: true })
    const result = await up(ctx)
    started = result.started
    await runPostStartHooks({ cfg: ctx.cfg, logger: ctx.logger, env: serviceEnv(ctx.cfg) })
    const vitest = join(ctx.paths.root, 'node_modules', 'vitest', 'vitest.mjs')
    return await new Promise<number>((resolve, reject) => {
      // The stack is announced to the tests in the seed's variable names, so every test finds
      // it, whichever helper it uses; variables already set win. Tests create databases and
      // tables, so they get the owners' credentials (the generated ones of .stack/secrets);
      // tests of the service roles read those roles' secrets themselves (harness/stack.ts).
      const env = { ...serviceEnv(ctx.cfg), ...roleEnv(ctx.cfg, { registry: 'owner', timeseries: 'owner' }), ...brokerEnv(ctx.cfg, ctx.paths, undefined), ...process.env }
      const child = spawn(process.execPath, [vitest, 'run', ...argv], { cwd: ctx.paths.root, stdio: 'inherit', env })
      child.once('error', reject)
      child.once('exit', (code, sig) => resolve(code ?? 128 + (sig === null ? 1 : constants.signals[sig])))
    })
  } catch (err) {
    ctx.logger.error({ err, code: isF2Error(err) ? err.code : undefined }, (err as Error).message)
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  } finally {
    if (started) await down(ctx)
    process.off('SIGINT', ignore)
    process.off('SIGTERM', ignore)
  }
}
