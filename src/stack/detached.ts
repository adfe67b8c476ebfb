import { spawn } from 'node:child_process'
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import type { StackContext } from './component.ts'
import { infrastructure } from './infrastructure.ts'
import { clearStaleState } from './owner.ts'
import { isPortOpen } from './ports.ts'
import { isAlive, stopPid } from './process.ts'
import { provision } from './provision.ts'
import { ownerAlive, readState, removeState, runs } from './state.ts'

export interface UpResult {
  /** False when a running stack was reused. */
  started: boolean
  pid: number
}

const daemonLog = (ctx: StackContext): string => join(ctx.paths.logsDir, 'stack.log')

/**
 * Serialises `up` and `down` across processes (several test runs may start at once): the
 * lock is a file created exclusively, holding the holder's pid; a dead holder's lock is taken over.
 */
async function withLock<T> (ctx: StackContext, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const file = join(ctx.paths.runDir, 'stack.lock')
  const until = Date.now() + timeoutMs
  for (;;) {
    try {
      const fd = openSync(file, 'wx')
      writeSync(fd, String(process.pid))
      closeSync(fd)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      let holder = 0
      try { holder = Number(readFileSync(file, 'utf8')) } catch { /* just released */ }
      if (holder > 0 && !isAlive(holder)) {
        rmSync(file, { force: true })
        continue
      }
      if (Date.now() > until) throw new F2Error(ErrorCodes.STACK_START_FAILED, `another stack command (pid ${holder}) holds ${file}`)
      await sleep(200)
    }
  }
  try {
    return await fn()
  } finally {
    rmSync(file, { force: true })
  }
}

function tail (file: string, lines = 15): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return ''
  }
}

/**
 * Brings the infrastructure up in a detached daemon (`node src/cli.ts stack daemon`) and
 * waits until it is ready. Idempotent: a running stack (detached or a foreground `npm start`)
 * is reused. Provisions what is missing first.
 */
export async function up (ctx: StackContext, timeoutMs = 300_000): Promise<UpResult> {
  return withLock(ctx, timeoutMs, () => upLocked(ctx, timeoutMs))
}

async function upLocked (ctx: StackContext, timeoutMs: number): Promise<UpResult> {
  const { paths, logger } = ctx
  let state = readState(paths.stateFile)
  if (state !== undefined && ownerAlive(state)) {
    if (state.status !== 'ready') state = await waitReady(ctx, state.pid, timeoutMs)
    logger.info({ pid: state.pid, mode: state.mode }, 'stack already up, reusing it')
    return { started: false, pid: state.pid }
  }
  provision(paths, logger)
  await clearStaleState(ctx)
  const fd = openSync(daemonLog(ctx), 'a')
  let pid: number | undefined
  try {
    const child = spawn(process.execPath, [join(paths.root, 'src', 'cli.ts'), 'stack', 'daemon'], {
      cwd: paths.root, detached: true, stdio: ['ignore', fd, fd], env: process.env
    })
    pid = child.pid
    child.unref()
  } finally {
    closeSync(fd)
  }
  if (pid === undefined) throw new F2Error(ErrorCodes.STACK_START_FAILED, `could not spawn the stack daemon; see ${daemonLog(ctx)}`)
  logger.info({ pid, log: daemonLog(ctx) }, 'stack daemon started, waiting for it to be ready')
  await waitReady(ctx, pid, timeoutMs)
  return { started: true, pid }
}

async function waitReady (ctx: StackContext, pid: number, timeoutMs: number): Promise<NonNullable<ReturnType<typeof readState>>> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const state = readState(ctx.paths.stateFile)
    if (state?.pid === pid && state.status === 'ready') return state
    if (state?.pid === pid && state.status === 'failed') {
      throw new F2Error(ErrorCodes.STACK_START_FAILED, `the stack could not start: ${state.error ?? `unknown error; see ${daemonLog(ctx)}`}`)
    }
    if (!isAlive(pid)) {
      throw new F2Error(ErrorCodes.STACK_START_FAILED, `the stack daemon (pid ${pid}) exited before it was ready; last lines of ${daemonLog(ctx)}:\n${tail(daemonLog(ctx))}`)
    }
    if (Date.now() > until) {
      throw new F2Error(ErrorCodes.STACK_START_FAILED, `the stack was not ready within ${timeoutMs} ms; see ${daemonLog(ctx)}`)
    }
    await sleep(250)
  }
}

/** Stops the stack, whoever owns it; what a dead owner left behind is killed. Returns false if nothing ran. */
export async function down (ctx: StackContext, timeoutMs = 120_000): Promise<boolean> {
  return withLock(ctx, timeoutMs + 30_000, () => downLocked(ctx, timeoutMs))
}

async function downLocked (ctx: StackContext, timeoutMs: number): Promise<boolean> {
  const { paths, logger } = ctx
  const state = readState(paths.stateFile)
  if (state === undefined) return false
  if (ownerAlive(state)) {
    logger.info({ pid: state.pid, mode: state.mode }, 'stopping the stack')
    const clean = await stopPid(state.pid, 'SIGTERM', timeoutMs)
    if (!clean) logger.warn({ pid: state.pid, code: ErrorCodes.STOP_TIMEOUT }, 'the stack owner did not stop in time and was killed')
  }
  // Anything the owner could not stop (it was killed, or crashed earlier).
  await clearStaleState(ctx)
  removeState(paths.stateFile)
  return true
}

/** One infrastructure component as `stack status` reports it: its process and which of its ports answer. */
export interface InfrastructureStatus { name: string, pid?: number, alive: boolean, ports: Record<number, boolean> }

export interface StatusReport {
  owner?: { pid: number, mode: string, status: string, alive: boolean, error?: string }
  components: InfrastructureStatus[]
}

export async function status (ctx: StackContext): Promise<StatusReport> {
  const state = readState(ctx.paths.stateFile)
  const components: InfrastructureStatus[] = []
  for (const component of infrastructure()) {
    const proc = state?.processes[component.name]
    const ports: Record<number, boolean> = {}
    for (const port of component.ports(ctx.cfg)) ports[port] = await isPortOpen(port)
    components.push({ name: component.name, ...(proc === undefined ? {} : { pid: proc.pid }), alive: proc !== undefined && runs(proc.pid, proc.command), ports })
  }
  return {
    ...(state === undefined ? {} : { owner: { pid: state.pid, mode: state.mode, status: state.status, alive: ownerAlive(state), ...(state.error === undefined ? {} : { error: state.error }) } }),
    components
  }
}
