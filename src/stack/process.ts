import { spawn, type ChildProcess } from 'node:child_process'
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** One long-running process of the stack or of the project's services. */
export interface ProcessSpec {
  name: string
  command: string
  args: string[]
  env?: Record<string, string>
  cwd?: string
  /** Run as this system user (only when we are root), e.g. PostgreSQL, which refuses to run as root. */
  user?: { uid: number, gid: number }
  /** Signal that asks for a clean, quick shutdown (PostgreSQL: SIGINT = "fast" shutdown). */
  stopSignal?: NodeJS.Signals
  /** stdout and stderr are appended here. */
  logFile: string
}

/**
 * Spawns the process in its own process group with its output appended to `logFile`.
 * Its own group keeps a terminal's Ctrl-C from reaching it directly, so the supervisor
 * can stop everything in order (services before Kafka, Kafka before nothing else needs it).
 */
export function spawnProcess (spec: ProcessSpec): ChildProcess {
  mkdirSync(dirname(spec.logFile), { recursive: true })
  const fd = openSync(spec.logFile, 'a')
  try {
    return spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: { ...process.env, ...spec.env },
      stdio: ['ignore', fd, fd],
      detached: true,
      ...(spec.user === undefined ? {} : { uid: spec.user.uid, gid: spec.user.gid })
    })
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(fd)
  }
}

/** True while `pid` runs. A zombie (exited, not yet reaped by its parent, e.g. an orphan awaiting init) counts as gone. */
export function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state ..."; comm may contain spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}

function signal (pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig) } catch { /* already gone */ }
}

/** Resolves true once `pid` is gone, false if it is still alive after `timeoutMs`. */
export async function waitForExit (pid: number, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs
  while (isAlive(pid)) {
    if (Date.now() >= until) return false
    await sleep(100)
  }
  return true
}

/**
 * Asks `pid` to stop with `stopSignal`, waits up to `deadlineMs`, then kills its whole
 * process group. Returns true when it stopped on its own.
 */
export async function stopPid (pid: number, stopSignal: NodeJS.Signals, deadlineMs: number): Promise<boolean> {
  if (!isAlive(pid)) return true
  signal(pid, stopSignal)
  if (await waitForExit(pid, deadlineMs)) {
    // Helpers the process spawned itself (PostgreSQL backends, ...) go with it.
    signal(-pid, 'SIGKILL')
    return true
  }
  signal(-pid, 'SIGKILL')
  signal(pid, 'SIGKILL')
  await waitForExit(pid, 5_000)
  return false
}
