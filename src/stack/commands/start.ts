import { isF2Error } from '../../core/errors.ts'
import type { StackContext } from '../component.ts'
import { createContext } from '../context.ts'
import { up } from '../detached.ts'
import { clearStaleState, runOwner } from '../owner.ts'
import { provision } from '../provision.ts'
import { services as allServices, shiftedServices } from '../services.ts'
import { ownerAlive, readState } from '../state.ts'

function banner (ctx: StackContext, reused: boolean, healthPort: number): string {
  const { cfg, paths } = ctx
  return [
    '',
    'stack ready',
    `  health       http://127.0.0.1:${healthPort}/health`,
    `  prometheus   http://127.0.0.1:${cfg.prometheusPort}/targets`,
    // The read-only role's URL comes from `db url` (generated password): nothing secret is printed.
    `  newest rows  psql "$(${cfg.portOffset === 0 ? '' : `F2_STACK_PORT_OFFSET=${cfg.portOffset} `}npm run -s db -- url timeseries)" -c 'select * from iot_measurements order by timestamp desc limit 10'`,
    `  logs         ${paths.logsDir}`,
    reused ? '  Ctrl-C stops the services; the detached stack stays up (npm run stack -- down)' : '  Ctrl-C stops everything',
    ''
  ].join('\n')
}

/**
 * `npm start`: installs what is missing, brings the infrastructure up (or reuses a detached
 * stack), runs the post-start hooks and every service in the foreground until Ctrl-C.
 */
export async function run (_argv: string[]): Promise<number> {
  const ctx = createContext()
  try {
    provision(ctx.paths, ctx.logger)
    const state = readState(ctx.paths.stateFile)
    let reuse = false
    if (state !== undefined && ownerAlive(state)) {
      if (state.mode === 'foreground') {
        process.stderr.write(`the stack already runs in the foreground (npm start, pid ${state.pid}); stop it first\n`)
        return 1
      }
      await up(ctx)
      reuse = true
      ctx.logger.info({ pid: state.pid }, 'reusing the detached stack')
    } else {
      await clearStaleState(ctx)
    }
    const services = shiftedServices(ctx.cfg.portOffset, allServices)
    const healthPort = services.find(s => s.name === 'health')?.port ?? 8000
    return await runOwner({
      ctx,
      mode: 'foreground',
      ownInfrastructure: !reuse,
      services,
      runHooks: true,
      watchParent: true,
      onReady: () => {
        ctx.logger.info('stack ready')
        process.stdout.write(`${banner(ctx, reuse, healthPort)}\n`)
      }
    })
  } catch (err) {
    ctx.logger.error({ err, code: isF2Error(err) ? err.code : undefined }, (err as Error).message)
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
}
