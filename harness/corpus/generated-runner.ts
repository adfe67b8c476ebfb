import { setTimeout as sleep } from 'node:timers/promises'
import postgres from 'postgres'
import { decodeDeadLetter } from '../../src/core/dead-letter.ts'
import type { Result } from '../../src/core/result.ts'
import type { SensorDefinition } from '../../src/core/sensor.ts'
import { RegistryStore } from '../../src/registry/store.ts'
import { parseSensorKey } from '../../src/stages/processor/transform.ts'
import { SERVICES } from '../pipeline.ts'
import { startCorpusRig } from './rig.ts'
import { expect1, generate, rowId, sensorKeys, type Expectation } from './generated.ts'

/**
 * Runs the generated corpus (generated.ts) through a private broker and the real connector,
 * processor and sink, then accounts for every message: each must have exactly its predicted
 * rows (by primary key) and its predicted dead letters (stage and reason, attributed by MQTT topic). A message
 * the broker refuses to acknowledge is counted apart (none is expected: the generator keeps
 * to what MQTT allows).
 */
export interface GeneratedReport {
  seed: number
  messages: number
  refused: number
  byKind: Record<string, number>
  rows: { expected: number, found: number, missing: number, unexpected: number }
  deadLetters: { expected: number, found: number, missing: number, unexpected: number }
  /** Per `stage|reason`: predicted and found dead letters. */
  byReason: Record<string, { expected: number, found: number }>
  /** Messages whose predicted rows or dead letters did not all appear. */
  unaccounted: number
  examples: Array<{ i: number, kind: string, topic: string, expected: Expectation, problem: string }>
  servicesSurvived: boolean
  exitCodes: Record<string, number | null>
  publishSeconds: number
  seconds: number
}

const dlKey = (stage: string, reason: string, topic: string | null): string => `${stage}|${reason}|${stage === 'sink' ? '' : topic ?? ''}`

export async function runGenerated (count: number, seed: number, log: (s: string) => void = () => {}): Promise<GeneratedReport> {
  const started = Date.now()
  // A session that outlives a reconnect: the broker keeps the connector's queue meanwhile.
  const { pipeline, publisher, deadLetters: consumer, close } = await startCorpusRig('gencorpus', { connector: { MQTT_SESSION_EXPIRY_S: '300' }, sink: { SINK_BATCH_WAIT_MS: '100' } })
  try {
    await pipeline.setUp()
    await pipeline.startAll()
    // A whole hour back: every generated timestamp is in the past, milliseconds apart.
    const messages = generate(count, seed, Math.floor(Date.now() / 1000) * 1000 - 3_600_000)
    const byKind: Record<string, number> = {}
    for (const m of messages) byKind[m.kind] = (byKind[m.kind] ?? 0) + 1

    // The registry is an input of the prediction, read before anything is sent.
    const reg = postgres(pipeline.registryUrl, { max: 1, onnotice: () => {} })
    const sensors = new Map<string, Result<SensorDefinition>>()
    try {
      const store = new RegistryStore(reg)
      for (const key of sensorKeys(messages)) {
        const k = parseSensorKey(key)
        sensors.set(key, await store.resolveSensor(k.mac, k.connector, k.pin))
      }
    } finally {
      await reg.end()
    }
    const expected = messages.map(m => expect1(m, sensors))

    const dead = new Map<string, number>()
    let deadTotal = 0
    const stream = await consumer.consume({ topics: [pipeline.topics.dead], mode: 'earliest' })
    stream.on('data', m => {
      const d = decodeDeadLetter(m.value as Buffer)
      const key = d.ok ? dlKey(d.value.stage, d.value.reason, d.value.mqtt_topic) : 'undecodable||'
      dead.set(key, (dead.get(key) ?? 0) + 1)
      deadTotal++
    })

    const found = new Set<string>()
    const readRows = async (): Promise<void> => {
      const rows = await pipeline.sql`SELECT "timestamp", device_id, connector, connector_mode, datapoint_label, pin_position FROM iot_measurements`
      found.clear()
      for (const r of rows) found.add(rowId(r as unknown as Parameters<typeof rowId>[0]))
    }

    await publisher.waitConnected()
    const refused = new Set<number>()
    const t0 = Date.now()
    let inFlight = 0
    // Published in chunks, each once most of the one before has come out of the pipeline:
    // the broker's queue for the connector stays far below max_queued_messages.
    const CHUNK = 2000
    let predictedSoFar = 0
    for (const m of messages) {
      if (m.i > 0 && m.i % CHUNK === 0) {
        const waitUntil = Date.now() + 120_000
        for (;;) {
          while (inFlight > 0) await sleep(5)
          await readRows()
          if (found.size + deadTotal >= 0.95 * predictedSoFar - CHUNK || Date.now() > waitUntil) break
          await sleep(250)
        }
        log(`published ${m.i} of ${count}; rows ${found.size}, dead letters ${deadTotal}`)
      }
      const e = expected[m.i] as Expectation
      predictedSoFar += e.rows.length + e.deadLetters.length
      while (inFlight >= 200) await sleep(1)
      inFlight++
      publisher.publish(m.topic, m.payload, { qos: 1 }).then(() => { inFlight-- }, () => { inFlight--; refused.add(m.i) })
    }
    while (inFlight > 0) await sleep(10)
    const publishSeconds = (Date.now() - t0) / 1000

    const wantRows = new Set<string>()
    let wantDead = 0
    for (const m of messages) {
      if (refused.has(m.i)) continue
      const e = expected[m.i] as Expectation
      for (const r of e.rows) wantRows.add(r)
      wantDead += e.deadLetters.length
    }
    // Until everything predicted arrived, or nothing new arrived for 60 s.
    let progress = ''
    let quietSince = Date.now()
    for (;;) {
      await readRows()
      const now = `${found.size}/${deadTotal}`
      if (found.size >= wantRows.size && deadTotal >= wantDead) break
      if (now !== progress) { progress = now; quietSince = Date.now(); log(`rows ${found.size}/${wantRows.size}, dead letters ${deadTotal}/${wantDead}`) }
      if (Date.now() - quietSince > 60_000) break
      await sleep(1000)
    }
    // Anything beyond the prediction arrives with the last batches: a short wait catches it.
    await sleep(3000)
    await readRows()
    await stream.close()

    const left = new Map(dead)
    const byReason: GeneratedReport['byReason'] = {}
    for (const [key, n] of dead) {
      const reason = key.split('|').slice(0, 2).join('|')
      byReason[reason] ??= { expected: 0, found: 0 }
      byReason[reason].found += n
    }
    let unaccounted = 0
    const examples: GeneratedReport['examples'] = []
    for (const m of messages) {
      if (refused.has(m.i)) continue
      const e = expected[m.i] as Expectation
      const problems: string[] = []
      for (const r of e.rows) if (!found.has(r)) problems.push(`row ${r} missing`)
      for (const d of e.deadLetters) {
        const [stage = '', reason = ''] = d.split('|')
        byReason[d] ??= { expected: 0, found: 0 }
        byReason[d].expected++
        const key = dlKey(stage, reason, m.topic)
        const n = left.get(key) ?? 0
        if (n > 0) left.set(key, n - 1)
        else problems.push(`dead letter ${d} missing`)
      }
      if (problems.length > 0) {
        unaccounted++
        if (examples.length < 20) examples.push({ i: m.i, kind: m.kind, topic: m.topic.slice(0, 200), expected: e, problem: problems.join('; ').slice(0, 500) })
      }
    }
    const unexpectedDead = [...left.values()].reduce((t, n) => t + n, 0)
    const unexpectedRows = [...found].filter(r => !wantRows.has(r))
    for (const r of unexpectedRows.slice(0, 5)) examples.push({ i: -1, kind: 'unexpected-row', topic: '', expected: { rows: [], deadLetters: [] }, problem: `row ${r} not predicted` })
    for (const [key, n] of left) if (n > 0 && examples.length < 30) examples.push({ i: -1, kind: 'unexpected-dead-letter', topic: key.split('|')[2] ?? '', expected: { rows: [], deadLetters: [] }, problem: `${n} × dead letter ${key} not predicted` })

    const alive = SERVICES.every(s => pipeline.pid(s) !== undefined && pipeline.restarts[s] === 0)
    const exitCodes = await pipeline.stopAll()
    return {
      seed,
      messages: count,
      refused: refused.size,
      byKind,
      rows: { expected: wantRows.size, found: found.size, missing: [...wantRows].filter(r => !found.has(r)).length, unexpected: unexpectedRows.length },
      deadLetters: { expected: wantDead, found: deadTotal, missing: wantDead - (deadTotal - unexpectedDead), unexpected: unexpectedDead },
      byReason,
      unaccounted,
      examples,
      servicesSurvived: alive && Object.values(exitCodes).every(c => c === 0),
      exitCodes,
      publishSeconds: Math.round(publishSeconds * 10) / 10,
      seconds: Math.round((Date.now() - started) / 100) / 10
    }
  } finally {
    await close()
  }
}
