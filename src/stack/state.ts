import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { isAlive } from './process.ts'

export interface StackState {
  /** The process that owns the stack: the detached daemon or a foreground `npm start`. */
  pid: number
  mode: 'detached' | 'foreground'
  status: 'starting' | 'ready' | 'stopping' | 'failed'
  error?: string
  /** Every supervised process: name → pid and executable (checked before killing a stale pid). */
  processes: Record<string, { pid: number, command: string, stopSignal?: NodeJS.Signals }>
  startedAt: string
  updatedAt: string
}

export function readState (file: string): StackState | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as StackState
  } catch {
    return undefined
  }
}

/** Written to a temporary file and renamed, so readers never see half a state. */
export function writeState (file: string, state: StackState): void {
  mkdirSync(dirname(file), { recursive: true })
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, `${JSON.stringify({ ...state, updatedAt: new Date().toISOString() }, null, 2)}\n`)
  renameSync(tmp, file)
}

export function removeState (file: string): void {
  rmSync(file, { force: true })
}

export function ownerAlive (state: StackState | undefined): boolean {
  return state !== undefined && isAlive(state.pid)
}

/** True when `pid` still runs `command` (guards against killing a recycled pid). */
export function runs (pid: number, command: string): boolean {
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]
    return argv0 === command
  } catch {
    return false
  }
}
