import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { afterEach, describe, expect, it } from 'vitest'
import { stackConfig, stackPaths } from '../../src/stack/config.ts'
import { isPortOpen } from '../../src/stack/ports.ts'
import { isAlive } from '../../src/stack/process.ts'
import { services, shiftedServices } from '../../src/stack/services.ts'
import { readState } from '../../src/stack/state.ts'
import { waitFor } from '../../harness/wait.ts'

/**
 * `npm start` stops the whole system by every route a service manager or a terminal may take:
 * a SIGTERM or SIGINT sent to npm's own process (not to its process group), or npm itself
 * dying (SIGKILL) so that nothing is signalled at all. The run reuses the suite's detached
 * stack (one stack per worktree: a second `npm start` on other ports would find this one's
 * state), so the owner starts the services only, on the stack's shifted ports; afterwards
 * every one of those ports must be free, no process of the run may remain, and the detached
 * infrastructure must still be up (it is not the foreground run's to stop).
 */
const cfg = stackConfig()
const root = stackPaths().root
const ports = shiftedServices(cfg.portOffset, services.filter(s => s.name !== 'simulator')).map(s => s.port)

interface Run { npm: ChildProcess, output: () => string, tree?: number[] }
let current: Run | undefined

function startNpm (): Run {
  // Own process group, so that signalling npm's pid below reaches npm alone, as a service manager would.
  const npm = spawn('npm', ['start', '--', '--no-simulator'], {
    cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, F2_SIMULATOR: 'off', LOG_LEVEL: 'info' }
  })
  let out = ''
  npm.stdout?.on('data', (b: Buffer) => { out += b.toString() })
  npm.stderr?.on('data', (b: Buffer) => { out += b.toString() })
  return { npm, output: () => out }
}

/** Every process below `pid` (from /proc: children of children, ...). */
function descendants (pid: number): number[] {
  const parentOf = new Map<number, number>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch { /* gone meanwhile */ }
  }
  const out: number[] = []
  const walk = (p: number): void => {
    for (const [child, parent] of parentOf) if (parent === p) { out.push(child); walk(child) }
  }
  walk(pid)
  return out
}

async function openPorts (): Promise<number[]> {
  const open: number[] = []
  for (const port of ports) if (await isPortOpen(port, '127.0.0.1', 300)) open.push(port)
  return open
}

/** Starts `npm start`, waits until it is ready, returns npm and every process it started. */
async function readyRun (): Promise<Run & { tree: number[] }> {
  expect(await openPorts(), 'service ports taken before the run').toEqual([])
  const run = startNpm()
  current = run
  await waitFor('npm start to be ready', () => run.output().includes('stack ready') || run.npm.exitCode !== null, 180_000, { stepMs: 200, detail: () => `output:\n${run.output().slice(-3000)}` })
  expect(run.npm.exitCode, run.output().slice(-3000)).toBeNull()
  expect(await openPorts()).toEqual(ports)
  const tree = descendants(run.npm.pid as number)
  run.tree = tree
  // The owner (node src/cli.ts start) and one process per service at least.
  expect(tree.length).toBeGreaterThanOrEqual(1 + ports.length)
  return { ...run, tree }
}

async function expectAllGone (run: Run & { tree: number[] }): Promise<void> {
  await waitFor('every process of the run to exit', () => run.tree.every(pid => !isAlive(pid)), 60_000, { stepMs: 200, detail: () => `output:\n${run.output().slice(-3000)}` })
  expect(await openPorts()).toEqual([])
  expect(run.output()).toContain('stack stopped')
  // The detached infrastructure the run reused is still up and still owned by its daemon.
  const state = readState(stackPaths().stateFile)
  expect(state?.mode).toBe('detached')
  expect(await isPortOpen(cfg.mqttPort)).toBe(true)
}

afterEach(async () => {
  const run = current
  current = undefined
  if (run?.npm.pid === undefined) return
  // A failed test must not leave services holding the ports for the next one (an orphaned
  // owner is no longer below npm, hence the tree seen when the run was ready).
  for (const pid of new Set([run.npm.pid, ...descendants(run.npm.pid), ...(run.tree ?? [])])) {
    try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
  }
})

describe('npm start stops everything it started', () => {
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    it(`when npm's own process (not its group) receives ${sig}`, async () => {
      const run = await readyRun()
      const npmExit = new Promise<unknown>(resolve => run.npm.once('exit', resolve))
      process.kill(run.npm.pid as number, sig)
      await expectAllGone(run)
      await npmExit
      expect(run.output()).toContain(`"signal":"${sig}"`)
    }, 240_000)
  }

  it('when its parent disappears without a signal reaching it (npm SIGKILLed)', async () => {
    const run = await readyRun()
    process.kill(run.npm.pid as number, 'SIGKILL')
    await expectAllGone(run)
    expect(run.output()).toMatch(/"signal":"parent \d+ gone"/)
  }, 240_000)
})
