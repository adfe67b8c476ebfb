import { spawn, type ChildProcess } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMqttClient, type MqttHandle } from '../../../src/adapters/mqtt.ts'
import { decodeEnvelope } from '../../../src/core/envelope.ts'
import { connectorEnv, startConnector } from './harness.ts'
import { filtersFor, readRecords, testMacs, type ReadRecord } from '../../../harness/kafka.ts'
import { createTempTopics, stackEnv, uniqueName } from '../../../harness/stack.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { waitFor } from '../../../harness/wait.ts'

const rawKill = uniqueName('raw-kill')
const rawShared = uniqueName('raw-shared')
const dlq = uniqueName('dlq')
let dropTopics: () => Promise<void>
let publisher: MqttHandle

beforeAll(async () => {
  dropTopics = (await createTempTopics([rawKill, rawShared, dlq], 3)).delete
  publisher = createMqttClient({ url: stackEnv().mqttUrl, ...auth(), clientId: uniqueName('pub') })
  await publisher.waitConnected()
}, 60_000)

afterAll(async () => {
  await publisher?.close()
  await dropTopics?.()
})

/** `{ mac: [seq...] }` of the records, in log order (one key → one partition → arrival order). */
function sequences (records: ReadRecord[]): Map<string, number[]> {
  const out = new Map<string, number[]>()
  for (const r of records) {
    const env = decodeEnvelope(r.value)
    if (!env.ok) throw new Error(env.error.message)
    const p = env.value.payload as { seq: number }
    const list = out.get(r.key) ?? []
    list.push(p.seq)
    out.set(r.key, list)
  }
  return out
}

async function exited (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  await new Promise(resolve => child.once('exit', resolve))
}

function spawnConnector (env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['src/cli.ts', 'connector'], { env: { ...process.env, ...env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'inherit'] })
}

describe('connector resilience (real Mosquitto and Kafka)', () => {
  it('loses nothing when killed with SIGKILL mid-stream and restarted', async () => {
    const macs = testMacs(4)
    const env = connectorEnv({ topic: rawKill, deadLetterTopic: dlq, filters: filtersFor(macs), clientId: uniqueName('kill'), group: uniqueName('g'), extra: { HTTP_PORT: '0' } })
    // The first start creates the persistent session and its subscriptions.
    let child = spawnConnector(env)
    const total = 4000
    await waitFor('connector session', async () => {
      await publisher.publish(`tele/f2-${macs[0]}/sensor-mode/J1/sensor-1`, JSON.stringify({ seq: -1 }), { qos: 1 })
      return (await readRecords(rawKill, 1, { timeoutMs: 1500, settleMs: 0 })).length > 0
    }, 30_000)
    let killed = false
    const sends: Array<Promise<void>> = []
    for (let i = 0; i < total / macs.length; i++) {
      for (const mac of macs) sends.push(publisher.publish(`tele/f2-${mac}/sensor-mode/J1/sensor-1`, JSON.stringify({ seq: i }), { qos: 1 }))
      if (i === 300 && !killed) {
        killed = true
        child.kill('SIGKILL')
      }
      if (i % 50 === 0) await Promise.all(sends.splice(0))
    }
    await Promise.all(sends)
    await exited(child)
    child = spawnConnector(env)
    try {
      const records = await readRecords(rawKill, total + 1, { timeoutMs: 60_000, settleMs: 2000 })
      const seqs = sequences(records)
      let duplicates = 0
      for (const mac of macs) {
        const list = (seqs.get(mac) ?? []).filter(s => s >= 0)
        const unique = new Set(list)
        duplicates += list.length - unique.size
        expect(unique.size).toBe(total / macs.length)
        // Every message present; first occurrences in publish order.
        const firsts = list.filter((s, i) => list.indexOf(s) === i)
        expect(firsts).toEqual([...firsts].sort((a, b) => a - b))
      }
      console.log(`SIGKILL test: ${records.length} records for ${total + 1} messages, ${duplicates} duplicate(s)`)
    } finally {
      child.kill('SIGTERM')
      await exited(child)
    }
  }, 120_000)

  it('splits the load between two instances of a shared subscription: each message forwarded once', async () => {
    const macs = testMacs(8)
    const group = uniqueName('g')
    const base = { topic: rawShared, deadLetterTopic: dlq, filters: filtersFor(macs), group }
    const a = await startConnector(connectorEnv({ ...base, clientId: uniqueName('a') }))
    const b = await startConnector(connectorEnv({ ...base, clientId: uniqueName('b') }))
    try {
      const total = 2000
      const sends: Array<Promise<void>> = []
      for (let i = 0; i < total / macs.length; i++) {
        for (const mac of macs) sends.push(publisher.publish(`stat/f2-${mac}/alarm-mode/J1/motion-sensor-1`, JSON.stringify({ seq: i }), { qos: 1 }))
      }
      await Promise.all(sends)
      await waitFor('all forwarded', () => a.stage.stats().forwarded + b.stage.stats().forwarded >= total)
      const records = await readRecords(rawShared, total, { settleMs: 1500 })
      expect(records).toHaveLength(total)
      const seqs = sequences(records)
      for (const mac of macs) expect(new Set(seqs.get(mac)).size).toBe(total / macs.length)
      expect(a.stage.stats().forwarded).toBeGreaterThan(0)
      expect(b.stage.stats().forwarded).toBeGreaterThan(0)
      expect(a.stage.stats().forwarded + b.stage.stats().forwarded).toBe(total)
    } finally {
      await a.stop()
      await b.stop()
    }
  }, 60_000)
})
