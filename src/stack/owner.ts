import { join } from 'node:path'
import { isF2Error } from '../core/errors.ts'
import type { StackContext } from './component.ts'
import { brokerEnv } from './broker-accounts.ts'
import { roleEnv, serviceEnv } from './config.ts'
import { runPostStartHooks } from './hooks.ts'
import { bringUp } from './infrastructure.ts'
import { assertPortsFree } from './ports.ts'
import { stopPid } from './process.ts'
import type { ServiceDefinition } from './services.ts'
import { ownerAlive, readState, removeState, runs, writeState, type StackState } from './state.ts'
import { createSupervisor, type RunningProcess, type SupervisedSpec } from './supervisor.ts'
import { httpOk, waitUntil } from './wait.ts'

export interface OwnerOptions {
  ctx: StackContext
  mode: StackState['mode']
  /** Run the infrastructure here (false: a detached stack already runs it and is reused). */
  ownInfrastructure: boolean
  /** Post-start hooks and services; only the foreground run has them. */
  services?: readonly ServiceDefinition[]
  runHooks?: boolean
  onReady?: () => void
  /**
   * Stop everything when the process that started this one goes away (a foreground run: the
   * terminal, npm or a service manager died without a signal reaching us). Polled every
   * `parentPollMs` (Linux has no portable parent-death notification for Node).
   */
  watchParent?: boolean
  parentPollMs?: number
}

export function serviceSpec (ctx: StackContext, def: ServiceDefinition): SupervisedSpec {
  const url = `http://127.0.0.1:${def.port}/healthz`
  return {
    name: def.name,
    command: process.execPath,
    args: [join(ctx.paths.root, 'src', 'cli.ts'), ...def.args],
    env: { ...serviceEnv(ctx.cfg), ...roleEnv(ctx.cfg, def.db ?? {}), ...brokerEnv(ctx.cfg, ctx.paths, def.mqtt), ...def.env },
    cwd: ctx.paths.root,
    logFile: join(ctx.paths.logsDir, `${def.name}.log`),
    ready: signal => waitUntil(`${def.name} to answer ${url}`, () => httpOk(url), { timeoutMs: 60_000, intervalMs: 300, signal })
  }
}

/** Kills what a dead owner left behind (pids whose executable still matches), then forgets it. */
export async function clearStaleState (ctx: StackContext): Promise<void> {
  const state = readState(ctx.paths.stateFile)
  if (state === undefined || ownerAlive(state)) return
  for (const [name, { pid, command, stopSignal }] of Object.entries(state.processes).reverse()) {
    if (!runs(pid, command)) continue
    ctx.logger.warn({ process: name, pid }, 'stopping a process left over from an earlier run')
    await stopPid(pid, stopSignal ?? 'SIGTERM', 20_000)
  }
  removeState(ctx.paths.stateFile)
}

/**
 * Runs the stack in this process until SIGINT/SIGTERM/SIGHUP (or, with `watchParent`, until
 * its parent process is gone): infrastructure (unless reused), post-start hooks, services.
 * Every process is supervised and restarted if it dies; on a stop request everything stops
 * in reverse order. Returns the exit code.
 */
export async function runOwner (options: OwnerOptions): Promise<number> {
  const { ctx, mode, ownInfrastructure } = options
  const { logger } = ctx
  const startedAt = new Date().toISOString()
  let status: StackState['status'] = 'starting'
  let error: string | undefined
  const save = (running: RunningProcess[]): void => {
    if (!ownInfrastructure) return
    const processes: StackState['processes'] = {}
    for (const { name, pid, command, stopSignal } of running) processes[name] = { pid, command, stopSignal }
    writeState(ctx.paths.stateFile, { pid: process.pid, mode, status, ...(error === undefined ? {} : { error }), processes, startedAt, updatedAt: startedAt })
  }
  const supervisor = createSupervisor({ logger, onChange: running => save(running) })

  let stopRequested: string | undefined
  let wake: () => void = () => {}
  const stopped = new Promise<void>(resolve => { wake = resolve })
  const requestStop = (reason: string): void => {
    if (stopRequested !== undefined) return
    stopRequested = reason
    logger.info({ signal: reason }, 'stopping the stack')
    status = 'stopping'
    wake()
    // A start in progress is cut short: stop() also ends a process still waiting to be ready.
    void supervisor.stop()
  }
  // SIGHUP: the terminal of a foreground run went away; stop cleanly rather than orphan everything.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  const onSignal = (sig: NodeJS.Signals): void => requestStop(sig)
  for (const sig of signals) process.on(sig, onSignal)
  // An orphan is re-parented (to init or a subreaper), so a changed ppid means the parent died.
  const parent = process.ppid
  const parentWatch = options.watchParent === true
    ? setInterval(() => {
      if (process.ppid === parent) return
      // Whoever read our output may be gone with the parent: a failed write must not kill us mid-stop.
      for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})
      requestStop(`parent ${parent} gone`)
    }, options.parentPollMs ?? 500)
    : undefined
  parentWatch?.unref()

  let code = 0
  try {
    if (ownInfrastructure) {
      save([])
      await bringUp(ctx, supervisor)
    }
    if (options.runHooks === true) await runPostStartHooks({ cfg: ctx.cfg, logger, env: serviceEnv(ctx.cfg) })
    for (const def of options.services ?? []) {
      await assertPortsFree(def.name, [def.port])
      await supervisor.start(serviceSpec(ctx, def))
    }
    if (stopRequested === undefined) {
      status = 'ready'
      save(supervisor.running())
      options.onReady?.()
    }
    await stopped
  } catch (err) {
    if (stopRequested === undefined) {
      code = 1
      status = 'failed'
      error = err instanceof Error ? err.message : String(err)
      logger.error({ err, code: isF2Error(err) ? err.code : undefined }, `the stack could not start: ${error}`)
      // The JSON log is for machines; whoever ran the command gets the reason in plain words.
      if (mode === 'foreground') process.stderr.write(`\nthe stack could not start: ${error}\n`)
      save(supervisor.running())
    }
  } finally {
    await supervisor.stop()
    clearInterval(parentWatch)
    for (const sig of signals) process.off(sig, onSignal)
  }
  // A failed start leaves its state (owner gone, status failed) so `stack up` can report why.
  if (ownInfrastructure && status !== 'failed') removeState(ctx.paths.stateFile)
  logger.info({ signal: stopRequested }, 'stack stopped')
  return code
}
