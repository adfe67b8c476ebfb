/**
 * Ceiling mode: each real component of the pipeline alone, at full speed, on this machine.
 *
 *   npm run bench:ceiling -- [--seconds 20] [--devices 50] [--only mqtt,kafka,copy] [--out results]
 *
 * - MQTT: several QoS 1 publishers (the load generator, 4 connections) → one QoS 1 subscriber.
 * - Kafka: produce (pipeline producer settings, separate process) → consume, with records of the
 *   pipeline's sizes: raw envelopes and decoded measurements, on temporary topics.
 * - PostgreSQL: COPY of measurement rows into a copy of iot_measurements (one transaction per
 *   5000 rows), and the sink's own write paths into iot_measurements, in a temporary database:
 *   the direct COPY (what a batch of new rows takes) and the staging path (COPY → staging →
 *   INSERT … ON CONFLICT, what a batch meeting stored rows takes), in alternating rounds.
 * Each ceiling is also stated in pipeline messages per second, using the message mix's rows per
 * message; the slowest is what `npm run bench` divides by. Writes results/ceiling.{json,md}.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { setTimeout as sleep } from 'node:timers/promises'
import { Readable } from 'node:stream'
import { pipeline as pipe } from 'node:stream/promises'
import { Consumer } from '@platformatic/kafka'
import { createMqttClient } from '../src/adapters/mqtt.ts'
import { buildEnvelope, encodeEnvelope } from '../src/core/envelope.ts'
import { decodeMessage } from '../src/core/decode.ts'
import { parseTopic } from '../src/core/topic.ts'
import type { Measurement } from '../src/core/measurement.ts'
import type { SensorDefinition } from '../src/core/sensor.ts'
import { copyLine, MEASUREMENT_COLUMNS } from '../src/storage/copy-format.ts'
import { migrate } from '../src/storage/migrate.ts'
import { TimeseriesWriter } from '../src/storage/timeseries-writer.ts'
import { connect } from '../src/storage/connection.ts'
import { createDeviceState, nextMessage } from '../src/stages/simulator/device.ts'
import { createRng } from '../src/core/random.ts'
import { generateFleet } from '../src/stages/simulator/fleet.ts'
import { formatF2Timestamp } from '../src/core/timestamp.ts'
import { ensureStack } from './lib/ensure-stack.ts'
import { machineInfo, machineLine } from './lib/machine.ts'
import { round } from './lib/proc.ts'
import { table, writeFile } from './lib/report.ts'
import { createDatabase, createTempTopics, deleteTopics, dropDatabase, ROOT, uniqueName, stackUrls, kafkaPartitions } from './lib/stack.ts'
import { Pipeline } from '../harness/pipeline.ts'

const { values: a } = parseArgs({ options: { seconds: { type: 'string', default: '20' }, devices: { type: 'string', default: '50' }, only: { type: 'string', default: 'mqtt,kafka,copy' }, out: { type: 'string', default: 'results' } } })
const seconds = Number(a.seconds)
const only = new Set((a.only as string).split(','))
const urls = stackUrls()
const log = (s: string): void => { process.stderr.write(`[ceiling] ${s}\n`) }

ensureStack()
const machine = await machineInfo()
const work = mkdtempSync(join(tmpdir(), 'f2-ceiling-'))

/** A sample of the simulator's traffic: messages, their envelopes and decoded measurements. */
function sample (n: number): { envelopes: Array<[string, string]>, measurements: Measurement[], rowsPerMessage: number } {
  const fleet = generateFleet(Number(a.devices), 11)
  const rng = createRng(3)
  const states = fleet.map(c => createDeviceState(c, rng))
  let micros = Date.UTC(2030, 0, 1) * 1000
  const stamp = (): string => formatF2Timestamp((micros += 1000) / 1000, 'UTC')
  const envelopes: Array<[string, string]> = []
  const measurements: Measurement[] = []
  for (let i = 0; i < n; i++) {
    const state = states[i % states.length] as ReturnType<typeof createDeviceState>
    const m = nextMessage(state, rng, stamp)
    const env = buildEnvelope({ topic: m.topic, payload: Buffer.from(m.payload), receivedAtMs: Date.now(), qos: 1, retain: false })
    envelopes.push([env.device_id ?? '', encodeEnvelope(env).toString('utf8')])
    const topic = parseTopic(m.topic)
    if (!topic.ok) continue
    let sensor: SensorDefinition | null = null
    if (topic.value.component === 'sensor') {
      const c = state.controller.connectors.find(x => x.number === topic.value.connector)
      const s = c?.sensors.find(x => x.pin === topic.value.position)
      if (s !== undefined) sensor = { controllerMac: state.controller.mac, controllerDeviceId: 1, connectorNumber: topic.value.connector, pinPosition: s.pin, sensorDeviceId: 1, sensorName: 'x', templateName: s.templateName, dataPoints: s.dataPoints }
    }
    measurements.push(...decodeMessage({ envelope: env, topic: topic.value, sensor, zone: 'UTC' }).measurements)
  }
  return { envelopes, measurements, rowsPerMessage: measurements.length / n }
}

const traffic = sample(20_000)
log(`sample: ${traffic.envelopes.length} messages, ${traffic.measurements.length} measurements (${traffic.rowsPerMessage.toFixed(3)} rows per message)`)
const results: Record<string, unknown> = {}

async function mqttCeiling (): Promise<{ published: number, received: number, seconds: number, messagesPerSecond: number }> {
  const p = new Pipeline({ devices: Number(a.devices), seed: 99, logDir: join(work, 'mqtt') }, 'ceiling')
  const fleet = generateFleet(Number(a.devices), 99)
  let received = 0
  let first = 0
  let lastAt = 0
  const sub = createMqttClient({
    url: urls.mqttUrl,
    ...p.broker.connector,
    clientId: `${p.id}-sub`,
    subscriptions: fleet.flatMap(c => [{ filter: `tele/f2-${c.mac}/#`, qos: 1 as const }, { filter: `stat/f2-${c.mac}/#`, qos: 1 as const }]),
    onMessage: () => { received++; lastAt = performance.now(); if (first === 0) first = lastAt }
  })
  await sub.waitConnected()
  await sleep(1000)
  const load = p.load({ rate: 0, durationS: seconds, count: 0, windowPerConnection: 20, mix: 'sim', unknownFraction: 0, expectedFile: join(work, 'mqtt-expected.tsv'), clientPrefix: `${p.id}-pub` })
  load.child.send({ credit: -1 })
  const done = await load.done
  const until = Date.now() + 30_000
  while (received < done.acked && Date.now() < until && performance.now() - lastAt < 3000) await sleep(100)
  await sub.close()
  const span = (lastAt - first) / 1000
  return { published: done.acked, received, seconds: round(span, 2), messagesPerSecond: round(received / span, 0) }
}

async function kafkaCeiling (kind: 'raw' | 'decoded'): Promise<{ records: number, recordBytes: number, produceSeconds: number, consumeSeconds: number, recordsPerSecond: number }> {
  const topic = uniqueName(`ceiling_${kind}`)
  await createTempTopics([topic], kafkaPartitions)
  const data: Array<[string, string]> = kind === 'raw' ? traffic.envelopes : traffic.measurements.map(m => [m.device_id, JSON.stringify(m)])
  const file = join(work, `${kind}.json`)
  writeFileSync(file, JSON.stringify(data))
  const repeat = Math.max(1, Math.round(800_000 / data.length))
  const total = data.length * repeat
  const consumer = new Consumer({ clientId: 'f2-ceiling-consumer', bootstrapBrokers: urls.kafka.split(','), groupId: `${topic}-g`, autocommit: false, maxWaitTime: 100, sessionTimeout: 10_000, heartbeatInterval: 1000 })
  let count = 0
  let first = 0
  let last = 0
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
    const consumed = new Promise<void>(resolve => {
      stream.on('data', () => {
        count++
        last = performance.now()
        if (first === 0) first = last
        if (count >= total) resolve()
      })
    })
    await sleep(2000)
    const out = execFileSync(process.execPath, [join(ROOT, 'bench', 'ceiling-worker.ts'), topic, file, urls.kafka, '500', '4', String(repeat)], { encoding: 'utf8' })
    const produced = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { records: number, seconds: number }
    await Promise.race([consumed, sleep(120_000)])
    await stream.close()
    const consumeSeconds = (last - first) / 1000
    const bytes = data.reduce((s, [, v]) => s + Buffer.byteLength(v), 0) / data.length
    // Both ends ran at once; the slower end bounds the rate.
    return { records: count, recordBytes: Math.round(bytes), produceSeconds: round(produced.seconds, 2), consumeSeconds: round(consumeSeconds, 2), recordsPerSecond: Math.round(Math.min(produced.records / produced.seconds, count / Math.max(consumeSeconds, produced.seconds))) }
  } finally {
    await consumer.close(true).catch(() => {})
    await deleteTopics([topic])
  }
}

interface CopyCeiling {
  copyRowsPerSecond: number
  /** The sink's writer as it runs: clean batches take the direct COPY. */
  sinkWriterRowsPerSecond: number
  /** The same writer held on the staging path (a batch that meets stored rows). */
  sinkStagingRowsPerSecond: number
  /** sinkWriterRowsPerSecond / sinkStagingRowsPerSecond, same sitting. */
  directToStagingRatio: number
  rows: number
}

async function copyCeiling (): Promise<CopyCeiling> {
  const name = uniqueName('ceiling_ts')
  const url = await createDatabase(urls.timeseriesUrl, name)
  const sql = connect(url, { max: 2 })
  try {
    await migrate(sql, 'timeseries')
    await sql.unsafe('CREATE TABLE ceiling_rows (LIKE iot_measurements INCLUDING ALL)')
    const cols = MEASUREMENT_COLUMNS.map(c => `"${c}"`).join(', ')
    let base = Date.UTC(2031, 0, 1)
    const batchOf = (n: number): Measurement[] => {
      const out: Measurement[] = []
      for (let i = 0; i < n; i++) {
        const m = traffic.measurements[i % traffic.measurements.length] as Measurement
        base += 1
        out.push({ ...m, timestamp: new Date(base).toISOString().replace('Z', '000Z') })
      }
      return out
    }
    // Plain COPY, 5000 rows per transaction.
    let rows = 0
    let t0 = performance.now()
    while (performance.now() - t0 < seconds * 1000) {
      const text = batchOf(5000).map(copyLine).join('')
      await sql.begin(async tx => {
        const w = await tx.unsafe(`COPY ceiling_rows (${cols}) FROM STDIN`).writable()
        await pipe(Readable.from([text]), w)
      })
      rows += 5000
    }
    const copyRate = rows / ((performance.now() - t0) / 1000)
    // The sink's write paths, 2000 rows per batch, alternating in four rounds each so that a
    // change of the machine's load falls on both alike.
    const paths = { direct: new TimeseriesWriter(sql), staging: new TimeseriesWriter(sql, { direct: false }) }
    const totals = { direct: { rows: 0, ms: 0 }, staging: { rows: 0, ms: 0 } }
    for (let turn = 0; turn < 8; turn++) {
      const path = turn % 2 === 0 ? 'staging' : 'direct'
      t0 = performance.now()
      while (performance.now() - t0 < seconds * 1000 / 8) {
        const r = await paths[path].writeBatch(batchOf(2000))
        if (r.path !== (path === 'direct' ? 'copy' : 'staging')) throw new Error(`a ${path} batch went the ${r.path} path`)
        totals[path].rows += r.inserted
      }
      totals[path].ms += performance.now() - t0
    }
    const writerRate = totals.direct.rows / (totals.direct.ms / 1000)
    const stagingRate = totals.staging.rows / (totals.staging.ms / 1000)
    return {
      copyRowsPerSecond: Math.round(copyRate),
      sinkWriterRowsPerSecond: Math.round(writerRate),
      sinkStagingRowsPerSecond: Math.round(stagingRate),
      directToStagingRatio: round(writerRate / stagingRate, 2),
      rows: rows + totals.direct.rows + totals.staging.rows
    }
  } finally {
    await sql.end({ timeout: 2 })
    await dropDatabase(urls.timeseriesUrl, name)
  }
}

const r = traffic.rowsPerMessage
const perMessage: Record<string, number> = {}
if (only.has('mqtt')) {
  log('MQTT publish → subscribe')
  const m = await mqttCeiling()
  results.mqtt = m
  perMessage['MQTT publish→subscribe'] = m.messagesPerSecond
  log(JSON.stringify(m))
}
if (only.has('kafka')) {
  log('Kafka produce → consume (raw envelopes)')
  const raw = await kafkaCeiling('raw')
  log(JSON.stringify(raw))
  log('Kafka produce → consume (decoded measurements)')
  const dec = await kafkaCeiling('decoded')
  log(JSON.stringify(dec))
  results.kafka = { raw, decoded: dec }
  // Per message the pipeline moves one raw record and r decoded records through Kafka.
  perMessage['Kafka produce→consume'] = Math.round(1 / (1 / raw.recordsPerSecond + r / dec.recordsPerSecond))
}
if (only.has('copy')) {
  log('PostgreSQL COPY and the sink writer')
  const c = await copyCeiling()
  results.postgres = c
  log(JSON.stringify(c))
  perMessage['PostgreSQL COPY'] = Math.round(c.copyRowsPerSecond / r)
  perMessage['sink write path (direct COPY)'] = Math.round(c.sinkWriterRowsPerSecond / r)
  perMessage['sink write path (COPY→staging→INSERT ON CONFLICT)'] = Math.round(c.sinkStagingRowsPerSecond / r)
}
const componentOnly = Object.entries(perMessage).filter(([k]) => !k.startsWith('sink write path'))
const slowest = componentOnly.sort((x, y) => x[1] - y[1])[0] ?? ['none', 0]
const summary = {
  rowsPerMessage: round(r, 3),
  messagesPerSecondByComponent: perMessage,
  slowest: slowest[0],
  slowestMessagesPerSecond: slowest[1],
  // The two ceilings `npm run bench` states its rate against (null when --only skipped them).
  copyMessagesPerSecond: perMessage['PostgreSQL COPY'] ?? null,
  // The sink's path for a batch of new rows (a batch meeting stored rows takes the staging path).
  sinkWriteMessagesPerSecond: perMessage['sink write path (direct COPY)'] ?? null
}
const report = { summary, machine, command: `npm run bench:ceiling -- ${process.argv.slice(2).join(' ')}`.trim(), seconds, results }
writeFile(resolve(ROOT, a.out as string, 'ceiling.json'), `${JSON.stringify(report, null, 2)}\n`)
writeFile(resolve(ROOT, a.out as string, 'ceiling.md'), [
  '# Component ceilings',
  '',
  `Command: \`${report.command}\``,
  '',
  `Machine: ${machineLine(machine)}`,
  '',
  `Each component alone at full speed (the rest of the stack idle but running). The simulator's message mix yields ${round(r, 3)} rows per message; per message the pipeline moves one raw record and ${round(r, 3)} decoded records through Kafka and inserts ${round(r, 3)} rows.`,
  '',
  table(['component', 'measured', 'pipeline messages/s equivalent'], [
    ...(results.mqtt === undefined ? [] : [['MQTT QoS 1, 4 publishers → 1 subscriber', `${(results.mqtt as { messagesPerSecond: number }).messagesPerSecond} messages/s`, perMessage['MQTT publish→subscribe'] ?? '']]),
    ...(results.kafka === undefined ? [] : [['Kafka produce → consume, acks=all idempotent', `raw ${(results.kafka as { raw: { recordsPerSecond: number, recordBytes: number } }).raw.recordsPerSecond} records/s (${(results.kafka as { raw: { recordBytes: number } }).raw.recordBytes} B), decoded ${(results.kafka as { decoded: { recordsPerSecond: number, recordBytes: number } }).decoded.recordsPerSecond} records/s (${(results.kafka as { decoded: { recordBytes: number } }).decoded.recordBytes} B)`, perMessage['Kafka produce→consume'] ?? '']]),
    ...(results.postgres === undefined ? [] : [
      ['PostgreSQL COPY into a copy of iot_measurements (5000 rows/txn)', `${(results.postgres as { copyRowsPerSecond: number }).copyRowsPerSecond} rows/s`, perMessage['PostgreSQL COPY'] ?? ''],
      ['(for reference) the sink\'s write path, 2000 rows/batch: direct COPY (new rows)', `${(results.postgres as CopyCeiling).sinkWriterRowsPerSecond} rows/s`, perMessage['sink write path (direct COPY)'] ?? ''],
      ['(for reference) the sink\'s write path, 2000 rows/batch: staging (batch meets stored rows)', `${(results.postgres as CopyCeiling).sinkStagingRowsPerSecond} rows/s (direct ÷ staging ${(results.postgres as CopyCeiling).directToStagingRatio})`, perMessage['sink write path (COPY→staging→INSERT ON CONFLICT)'] ?? '']
    ])
  ]),
  '',
  `Slowest component: **${summary.slowest}, ${summary.slowestMessagesPerSecond} messages/s**. \`npm run bench\` states the pipeline's sustained rate as a ratio of this.`,
  ''
].join('\n'))
process.stdout.write(`${JSON.stringify(summary)}\n`)
