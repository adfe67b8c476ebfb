import type { ChildProcess } from 'node:child_process'
import { exponentialDelay } from '../adapters/backoff.ts'
import type { Logger } from '../adapters/logger.ts'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import { spawnProcess, stopPid, type ProcessSpec } from './process.ts'

export interface SupervisedSpec extends ProcessSpec {
  /** Resolves once the process really serves (not merely runs); rejects or times out otherwise. */
  ready?: (signal: AbortSignal) => Promise<void>
}

export interface BackoffOptions {
  initialMs: number
  maxMs: number
  factor: number
  /** A process that ran this long before dying starts again from `initialMs`. */
  resetAfterMs: number
}

export interface SupervisorOptions {
  logger: Logger
  backoff?: Partial<BackoffOptions>
  /** Time each process gets to stop after its stop signal before it is killed. */
  stopDeadlineMs?: number
  /** Called whenever a pid changes (start, restart, exit), e.g. to persist the stack's state. */
  onChange?: (running: RunningProcess[]) => void
}

export interface RunningProcess { name: string, pid: number, command: string, stopSignal: NodeJS.Signals }

export interface Supervisor {
  /**
   * Spawns `spec` and waits for its readiness check. Rejects (and leaves nothing running for
   * this spec) when the process exits or the check fails before it is ready. Once ready, an
   * unexpected exit restarts it with exponential backoff, like compose's `restart: unless-stopped`.
   */
  start: (spec: SupervisedSpec) => Promise<void>
  /** Stops every process, last started first; each gets its stop signal, then SIGKILL at the deadline. */
  stop: () => Promise<void>
  /** Processes alive right now, in start order. */
  running: () => RunningProcess[]
  readonly stopping: boolean
}

interface Entry {
  spec: SupervisedSpec
  child: ChildProcess | undefined
  /** Restarts since the process last ran `resetAfterMs`: the exponent of the next delay. */
  attempt: number
  timer: NodeJS.Timeout | undefined
  restarts: number
}

const defaultBackoff: BackoffOptions = { initialMs: 1_000, maxMs: 30_000, factor: 2, resetAfterMs: 60_000 }

export function createSupervisor (options: SupervisorOptions): Supervisor {
  const { logger } = options
  const backoff: BackoffOptions = { ...defaultBackoff, ...options.backoff }
  const stopDeadlineMs = options.stopDeadlineMs ?? 20_000
  const entries: Entry[] = []
  let stopping = false

  const running = (): RunningProcess[] => {
    const out: RunningProcess[] = []
    for (const e of entries) {
      const child = e.child
      if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) out.push({ name: e.spec.name, pid: child.pid, command: e.spec.command, stopSignal: e.spec.stopSignal ?? 'SIGTERM' })
    }
    return out
  }
  const changed = (): void => options.onChange?.(running())

  /** Watches a running child: an exit that nobody asked for schedules a restart with backoff. */
  const adopt = (entry: Entry, child: ChildProcess): void => {
    entry.child = child
    const startedAt = Date.now()
    child.once('error', err => logger.error({ err, process: entry.spec.name }, 'process failed to spawn'))
    child.once('exit', (code, sig) => {
      if (entry.child === child) entry.child = undefined
      changed()
      if (stopping) return
      if (Date.now() - startedAt >= backoff.resetAfterMs) entry.attempt = 0
      const delayMs = exponentialDelay(entry.attempt++, backoff.initialMs, backoff.maxMs, backoff.factor)
      entry.restarts += 1
      logger.warn({ process: entry.spec.name, code, signal: sig, restartInMs: delayMs, restarts: entry.restarts, log: entry.spec.logFile }, 'process exited, restarting')
      entry.timer = setTimeout(() => {
        entry.timer = undefined
        if (!stopping) adopt(entry, spawnProcess(entry.spec))
      }, delayMs)
    })
    changed()
  }

  const start = async (spec: SupervisedSpec): Promise<void> => {
    if (stopping) throw new F2Error(ErrorCodes.STACK_START_FAILED, `not starting ${spec.name}: the supervisor is stopping`)
    const child = spawnProcess(spec)
    // Listed at once so that stop() also ends a process still waiting for its readiness check.
    const entry: Entry = { spec, child, attempt: 0, timer: undefined, restarts: 0 }
    entries.push(entry)
    changed()
    const abort = new AbortController()
    const exited = new Promise<never>((_resolve, reject) => {
      const fail = (why: string): void => {
        // Rejected before the abort, so this (the real reason) wins the race below.
        reject(new F2Error(ErrorCodes.STACK_START_FAILED, `${spec.name} ${why} before it was ready; see ${spec.logFile}`, { details: { process: spec.name, log: spec.logFile } }))
        abort.abort()
      }
      child.once('error', err => fail(`could not be spawned (${err.message})`))
      child.once('exit', (code, sig) => fail(`exited (code ${code ?? 'none'}, signal ${sig ?? 'none'})`))
    })
    exited.catch(() => { /* observed through the race below */ })
    try {
      await Promise.race([exited, spec.ready?.(abort.signal) ?? Promise.resolve()])
    } catch (err) {
      abort.abort()
      entries.splice(entries.indexOf(entry), 1)
      if (child.pid !== undefined) await stopPid(child.pid, spec.stopSignal ?? 'SIGTERM', stopDeadlineMs)
      changed()
      if (stopping) throw new F2Error(ErrorCodes.STACK_START_FAILED, `${spec.name} was stopped before it was ready`, { cause: err })
      throw err instanceof F2Error ? err : new F2Error(ErrorCodes.STACK_START_FAILED, `${spec.name} did not become ready: ${(err as Error).message}; see ${spec.logFile}`, { cause: err, details: { process: spec.name, log: spec.logFile } })
    }
    abort.abort()
    child.removeAllListeners('exit')
    child.removeAllListeners('error')
    adopt(entry, child)
    logger.info({ process: spec.name, pid: child.pid }, 'process ready')
  }

  let stopped: Promise<void> | undefined
  const stopAll = async (): Promise<void> => {
    stopping = true
    for (const entry of [...entries].reverse()) {
      if (entry.timer !== undefined) clearTimeout(entry.timer)
      const pid = entry.child?.pid
      if (pid === undefined) continue
      const clean = await stopPid(pid, entry.spec.stopSignal ?? 'SIGTERM', stopDeadlineMs)
      // The pid is gone once libuv has reaped it; the child's 'exit' event (which `running()`
      // reads) follows a turn of the event loop later, so wait for it briefly.
      const child = entry.child
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        await Promise.race([new Promise(resolve => child.once('exit', resolve)), new Promise(resolve => setTimeout(resolve, 1000).unref())])
      }
      if (clean) logger.info({ process: entry.spec.name }, 'process stopped')
      else logger.warn({ process: entry.spec.name, code: ErrorCodes.STOP_TIMEOUT, deadlineMs: stopDeadlineMs }, 'process killed after its stop deadline')
    }
    changed()
  }
  // Every caller (a signal handler, the owner's cleanup) waits for the same single shutdown.
  const stop = (): Promise<void> => (stopped ??= stopAll())

  return { start, stop, running, get stopping () { return stopping } }
}
