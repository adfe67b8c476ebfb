import { spawn, type ChildProcess } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Consumer } from '@platformatic/kafka'
import type postgres from 'postgres'
import { buildRecord, createProducer, type KafkaRecord } from '../src/adapters/kafka.ts'
import { buildEnvelope, encodeEnvelope } from '../src/core/envelope.ts'
import { formatF2Timestamp } from '../src/core/timestamp.ts'
import { postgresEnv } from '../src/adapters/connections/postgres.ts'
import { roleUrl, stackEnv } from './stack.ts'
import { stageMemoryEnv } from '../src/stack/services.ts'

/** Helpers shared by the processor, sink and end-to-end tests (real Kafka and PostgreSQL). */

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const brokers = (): string[] => stackEnv().kafkaBootstrap.split(',')

/** A `raw_iot_data` record as the connector writes it: key = MAC, value = envelope. */
export function rawRecord (topic: string, mqttTopic: string, payload: unknown, receivedAtMs = Date.now()): KafkaRecord {
  const bytes = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload))
  const env = buildEnvelope({ topic: mqttTopic, payload: bytes, receivedAtMs, qos: 1, retain: false })
  return buildRecord(topic, env.device_id, encodeEnvelope(env))
}

/** The topics an in-process processor stage reads and writes in a test. */
export interface ProcessorTopics { raw: string, decoded: string, activity: string, dead: string }

/**
 * The environment of an in-process processor stage under test: the stack's Kafka, the given
 * topics and group, the registry database `database` as the processor's own read-only role.
 */
export function processorTestEnv (t: ProcessorTopics, group: string, instance: string, database: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap,
    KAFKA_INPUT_TOPIC: t.raw,
    KAFKA_OUTPUT_TOPIC: t.decoded,
    KAFKA_ACTIVITY_TOPIC: t.activity,
    KAFKA_DEAD_LETTER_TOPIC: t.dead,
    KAFKA_CONSUMER_GROUP: group,
    PROCESSOR_INSTANCE_ID: instance,
    PROCESSOR_BATCH_WAIT_MS: '20',
    ...postgresEnv('registry', roleUrl('registry', 'processor', database)),
    ...extra
  }
}

export const deviceTime = (epochMs: number): string => formatF2Timestamp(epochMs, 'UTC')

export async function produceAll (records: KafkaRecord[], chunk = 2000): Promise<void> {
  const producer = createProducer({ clientId: 'f2-test-producer', bootstrapBrokers: brokers(), retries: 5 })
  try {
    for (let i = 0; i < records.length; i += chunk) await producer.send({ messages: records.slice(i, i + chunk) })
  } finally {
    await producer.close()
  }
}

export interface Collected { key: string | null, value: Buffer, partition: number, offset: bigint, headers: Map<string, string> }

/**
 * Reads `topic` from the beginning (a fresh group) until `count` records arrived or no new
 * record arrived for `quietMs` after `minWaitMs`. read_committed unless told otherwise.
 */
export async function collect (topic: string, options: { count?: number, timeoutMs?: number, quietMs?: number, readCommitted?: boolean } = {}): Promise<Collected[]> {
  const consumer = new Consumer({
    clientId: 'f2-test-collector',
    bootstrapBrokers: brokers(),
    groupId: `f2-test-collect-${Date.now()}-${Math.random().toString(16).slice(2)}`,
    autocommit: false,
    isolationLevel: options.readCommitted === false ? 0 : 1,
    maxWaitTime: 200,
    sessionTimeout: 10_000,
    heartbeatInterval: 1000
  })
  const out: Collected[] = []
  try {
    const stream = await consumer.consume({ topics: [topic], mode: 'earliest' })
    const deadline = Date.now() + (options.timeoutMs ?? 30_000)
    let last = Date.now()
    await new Promise<void>(resolve => {
      const timer = setInterval(() => {
        const quiet = options.count === undefined && Date.now() - last > (options.quietMs ?? 3000)
        if (Date.now() > deadline || quiet) { clearInterval(timer); resolve() }
      }, 100)
      stream.on('data', m => {
        const headers = new Map<string, string>()
        for (const [k, v] of m.headers) headers.set(k.toString(), v.toString())
        out.push({ key: m.key === undefined || m.key === null ? null : m.key.toString(), value: m.value, partition: m.partition, offset: m.offset, headers })
        last = Date.now()
        if (options.count !== undefined && out.length >= options.count) { clearInterval(timer); resolve() }
      })
    })
    await stream.close()
  } finally {
    await consumer.close(true)
  }
  return out
}

/** Committed offset − end offset per partition, summed (0 when the group is caught up). */
export async function groupLag (groupId: string, topic: string): Promise<bigint> {
  const consumer = new Consumer({ clientId: 'f2-test-lag', bootstrapBrokers: brokers(), groupId, autocommit: false })
  try {
    const ends = await consumer.listOffsets({ topics: [topic] })
    const end = ends.get(topic) ?? []
    const committed = await consumer.listCommittedOffsets({ topics: [{ topic, partitions: end.map((_, i) => i) }] })
    const done = committed.get(topic) ?? []
    let lag = 0n
    end.forEach((e, i) => { const c = done[i] ?? -1n; lag += e - (c < 0n ? 0n : c) })
    return lag
  } finally {
    await consumer.close(true)
  }
}

/** Wires a new controller with an Environmental Sensor on `connector`/`pin` (what an operator would register). */
export async function registerEnvSensor (sql: postgres.Sql, mac: string, connector: number, pin: number): Promise<void> {
  await sql.begin(async tx => {
    const [controller] = await tx`INSERT INTO "Device" ("DeviceName", "DeviceTemplateId", "MacAddress")
      SELECT ${`F2 ${mac}`}, "DeviceTemplateId", ${mac} FROM "DeviceTemplate" WHERE "Name" = 'F2 Controller' RETURNING "DeviceId"`
    const [sensor] = await tx`INSERT INTO "Device" ("DeviceName", "DeviceTemplateId")
      SELECT ${`Env ${mac}`}, "DeviceTemplateId" FROM "DeviceTemplate" WHERE "Name" = 'Environmental Sensor' RETURNING "DeviceId"`
    const [conn] = await tx`INSERT INTO "Connector" ("ControllerId", "ConnectorNumber") VALUES (${controller?.DeviceId}, ${connector}) RETURNING "ConnectorId"`
    await tx`INSERT INTO "Pin" ("ConnectorId", "Position", "DeviceId") VALUES (${conn?.ConnectorId}, ${pin}, ${sensor?.DeviceId})`
  })
}

export interface ChildService { child: ChildProcess, output: () => string, kill: (signal?: NodeJS.Signals) => Promise<void> }

/** Runs `node src/cli.ts <args>` (Node 24 from node_modules) with `env` added. */
export function spawnCli (args: string[], env: Record<string, string>): ChildService {
  const child = spawn(resolve(ROOT, 'node_modules/.bin/node'), ['src/cli.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...stageMemoryEnv(), LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  const keep = (d: Buffer): void => { output = (output + d.toString()).slice(-20_000) }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return {
    child,
    output: () => output,
    kill: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (child.exitCode !== null || child.signalCode !== null) return
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill(signal)
      await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 15_000))])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  }
}
