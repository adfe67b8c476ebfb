import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { stackConfig } from '../../src/stack/config.ts'
import { ROOT } from '../../harness/pipeline-stack.ts'
import { isPortOpen } from '../../src/stack/ports.ts'

// The harness' helpers the benchmarks use, beside the controls of this module.
export { createDatabase, createTempTopics, deleteTopics, dropDatabase, uniqueName, withDatabase } from '../../harness/stack.ts'
export { kafkaPartitions, ROOT, stackBroker, stackUrls, type BenchBroker, type StackUrls } from '../../harness/pipeline-stack.ts'

/**
 * The few controls the benchmark needs over the running stack beside the harness' (private
 * databases and topics per run, the stack's addresses): a restart of one infrastructure process.
 */
const cfg = stackConfig()

export type InfraName = 'kafka' | 'mosquitto' | 'postgres-timeseries' | 'postgres-registry'

interface StackState { pid: number, status: string, processes: Record<string, { pid: number, command: string } | undefined> }

function readStackState (): StackState | undefined {
  try {
    return JSON.parse(readFileSync(join(ROOT, '.stack', 'run', 'stack.json'), 'utf8')) as StackState
  } catch {
    return undefined
  }
}

/** Pid of an infrastructure process of the detached stack (undefined when not running). */
export function infraPid (name: string): number | undefined {
  const pid = readStackState()?.processes[name]?.pid
  if (pid === undefined) return undefined
  try { process.kill(pid, 0); return pid } catch { return undefined }
}

export function infraPort (name: InfraName): number {
  switch (name) {
    case 'kafka': return cfg.kafkaPort
    case 'mosquitto': return cfg.mqttPort
    case 'postgres-timeseries': return cfg.timeseries.port
    case 'postgres-registry': return cfg.registry.port
  }
}

const STOP_SIGNAL: Record<InfraName, NodeJS.Signals> = {
  kafka: 'SIGTERM', mosquitto: 'SIGTERM', 'postgres-timeseries': 'SIGINT', 'postgres-registry': 'SIGINT'
}

/**
 * Restarts one infrastructure process of the detached stack: its clean stop signal (Mosquitto
 * saves its persistent sessions, PostgreSQL does a fast shutdown, Kafka a controlled one), or
 * `signal` (SIGKILL: a crash, nothing saved on the way out); the stack's supervisor starts it
 * again. Resolves when the port answers again, with the seconds the port was closed. Throws if
 * it is not back within `timeoutMs` (the stack is then broken: the caller reports it loudly).
 */
export async function restartInfra (name: InfraName, timeoutMs = 180_000, signal: NodeJS.Signals = STOP_SIGNAL[name]): Promise<{ downSeconds: number }> {
  const pid = infraPid(name)
  if (pid === undefined) throw new Error(`${name} is not running under the detached stack (.stack/run/stack.json)`)
  const port = infraPort(name)
  const t0 = Date.now()
  process.kill(pid, signal)
  const until = t0 + timeoutMs
  for (;;) {
    const alive = (() => { try { process.kill(pid, 0); return true } catch { return false } })()
    if (!alive) break
    if (Date.now() > until) throw new Error(`${name} (pid ${pid}) did not stop within ${timeoutMs} ms`)
    await sleep(100)
  }
  const closedAt = Date.now()
  for (;;) {
    const next = infraPid(name)
    if (next !== undefined && next !== pid && await isPortOpen(port)) break
    if (Date.now() > until) throw new Error(`${name} did not come back within ${timeoutMs} ms; check npm run stack -- status`)
    await sleep(200)
  }
  return { downSeconds: (Date.now() - closedAt) / 1000 }
}
