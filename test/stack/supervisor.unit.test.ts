import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { pino } from 'pino'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Logger } from '../../src/adapters/logger.ts'
import { ErrorCodes } from '../../src/core/errors.ts'
import { isAlive } from '../../src/stack/process.ts'
import { createSupervisor, type Supervisor, type SupervisedSpec } from '../../src/stack/supervisor.ts'

let dir: string
let supervisor: Supervisor | undefined
let logLines: Record<string, unknown>[]

function logger (): Logger {
  logLines = []
  const sink = new Writable({ write (chunk, _enc, cb) { logLines.push(JSON.parse(String(chunk))); cb() } })
  return pino({ level: 'info' }, sink) as unknown as Logger
}

/** A child running `script` with Node; it appends "start" to its log each time it starts. */
function nodeSpec (name: string, script: string, extra: Partial<SupervisedSpec> = {}): SupervisedSpec {
  return {
    name,
    command: process.execPath,
    args: ['-e', `console.log('start'); ${script}`],
    logFile: join(dir, `${name}.log`),
    ...extra
  }
}

const starts = (name: string): number => readFileSync(join(dir, `${name}.log`), 'utf8').split('\n').filter(l => l === 'start').length

beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'f2-supervisor-')) })
afterEach(async () => {
  await supervisor?.stop()
  supervisor = undefined
  rmSync(dir, { recursive: true, force: true })
})

describe('supervisor', () => {
  it('waits for readiness, reports the process, and stops it on stop()', async () => {
    supervisor = createSupervisor({ logger: logger() })
    let checks = 0
    await supervisor.start(nodeSpec('steady', 'setInterval(() => {}, 1000)', {
      ready: async () => { while (++checks < 3) await sleep(20) }
    }))
    const [proc] = supervisor.running()
    expect(proc?.name).toBe('steady')
    expect(proc?.command).toBe(process.execPath)
    expect(isAlive(proc!.pid)).toBe(true)
    expect(checks).toBe(3)
    await supervisor.stop()
    expect(isAlive(proc!.pid)).toBe(false)
    expect(supervisor.running()).toEqual([])
  })

  it('restarts a process that dies, with growing delays, and no more once stopped', async () => {
    const changes: number[] = []
    supervisor = createSupervisor({
      logger: logger(),
      backoff: { initialMs: 50, factor: 2, maxMs: 400, resetAfterMs: 60_000 },
      onChange: running => changes.push(running.length)
    })
    await supervisor.start(nodeSpec('flaky', 'setTimeout(() => process.exit(3), 30)'))
    await sleep(700)
    const restarts = logLines.filter(l => l.msg === 'process exited, restarting')
    // Exits every ~30 ms plus its delay: 50, 100, 200, 400 ms → 3 or 4 restarts in 700 ms.
    expect(restarts.length).toBeGreaterThanOrEqual(3)
    expect(restarts.map(l => l.restartInMs).slice(0, 3)).toEqual([50, 100, 200])
    expect(restarts[0]?.code).toBe(3)
    // The first run plus one per restart (the newest may not have written its line yet).
    expect(starts('flaky')).toBeGreaterThanOrEqual(restarts.length)
    await supervisor.stop()
    const after = starts('flaky')
    await sleep(500)
    expect(starts('flaky')).toBe(after)
    expect(changes.length).toBeGreaterThan(0)
  })

  it('kills a process that ignores its stop signal once the deadline passes', async () => {
    supervisor = createSupervisor({ logger: logger(), stopDeadlineMs: 300 })
    await supervisor.start(nodeSpec('stubborn', "process.on('SIGTERM', () => {}); setInterval(() => {}, 1000)", {
      // Only ready once the handler is installed, or SIGTERM would end it at once.
      ready: async () => { while (!readFileSync(join(dir, 'stubborn.log'), 'utf8').includes('start')) await sleep(10) }
    }))
    const pid = supervisor.running()[0]!.pid
    const started = Date.now()
    await supervisor.stop()
    expect(Date.now() - started).toBeGreaterThanOrEqual(290)
    expect(isAlive(pid)).toBe(false)
    expect(logLines.some(l => l.code === ErrorCodes.STOP_TIMEOUT && l.process === 'stubborn')).toBe(true)
  })

  it('uses the spec stop signal', async () => {
    supervisor = createSupervisor({ logger: logger(), stopDeadlineMs: 2_000 })
    await supervisor.start(nodeSpec('interruptible', "process.on('SIGTERM', () => {}); process.on('SIGINT', () => { console.log('got SIGINT'); process.exit(0) }); setInterval(() => {}, 1000)", {
      stopSignal: 'SIGINT',
      ready: async () => { while (!readFileSync(join(dir, 'interruptible.log'), 'utf8').includes('start')) await sleep(10) }
    }))
    await supervisor.stop()
    expect(readFileSync(join(dir, 'interruptible.log'), 'utf8')).toContain('got SIGINT')
    expect(logLines.some(l => l.code === ErrorCodes.STOP_TIMEOUT)).toBe(false)
  })

  it('rejects start() when the process exits before it is ready, and does not restart it', async () => {
    supervisor = createSupervisor({ logger: logger(), backoff: { initialMs: 10 } })
    const never = (signal: AbortSignal): Promise<void> => new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))))
    await expect(supervisor.start(nodeSpec('crasher', 'process.exit(7)', { ready: never })))
      .rejects.toMatchObject({ code: ErrorCodes.STACK_START_FAILED, message: expect.stringContaining('code 7') })
    await sleep(100)
    expect(starts('crasher')).toBe(1)
    expect(supervisor.running()).toEqual([])
  })

  it('rejects start() and ends the process when its readiness check fails', async () => {
    supervisor = createSupervisor({ logger: logger() })
    let pid = 0
    await expect(supervisor.start(nodeSpec('unready', 'setInterval(() => {}, 1000)', {
      ready: async () => {
        pid = supervisor!.running()[0]!.pid
        throw new Error('port never opened')
      }
    }))).rejects.toMatchObject({ code: ErrorCodes.STACK_START_FAILED, message: expect.stringContaining('port never opened') })
    expect(isAlive(pid)).toBe(false)
    expect(supervisor.running()).toEqual([])
  })

  it('stops processes in reverse start order', async () => {
    supervisor = createSupervisor({ logger: logger() })
    await supervisor.start(nodeSpec('first', 'setInterval(() => {}, 1000)'))
    await supervisor.start(nodeSpec('second', 'setInterval(() => {}, 1000)'))
    await supervisor.stop()
    expect(logLines.filter(l => l.msg === 'process stopped').map(l => l.process)).toEqual(['second', 'first'])
  })
})
