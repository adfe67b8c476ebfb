import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { postgresEnv } from '../../../src/adapters/connections/postgres.ts'
import { buildRecord } from '../../../src/adapters/kafka.ts'
import { createLogger } from '../../../src/adapters/logger.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import { ActivityWriter, type ActivityHead } from '../../../src/core/activity.ts'
import { buildDeadLetter, encodeDeadLetter } from '../../../src/core/dead-letter.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import type { Measurement } from '../../../src/core/measurement.ts'
import { formatIso } from '../../../src/core/timestamp.ts'
import { loadFleetConfig } from '../../../src/stages/fleet/config.ts'
import { createFleetMetrics } from '../../../src/stages/fleet/metrics.ts'
import { FleetStage } from '../../../src/stages/fleet/stage.ts'
import type { DeviceStateRecord } from '../../../src/stages/fleet/state.ts'
import { FleetStore, loadIntervals } from '../../../src/stages/fleet/store.ts'
import { UpstreamWatch } from '../../../src/stages/fleet/upstream.ts'
import { loadProcessorConfig } from '../../../src/stages/processor/config.ts'
import { createProcessorMetrics } from '../../../src/stages/processor/metrics.ts'
import { ProcessorStage } from '../../../src/stages/processor/stage.ts'
import { RegistryStore } from '../../../src/registry/store.ts'
import { loadSimulatorConfig } from '../../../src/stages/simulator/config.ts'
import { simulatorMetrics } from '../../../src/stages/simulator/metrics.ts'
import { createSimulator, type Simulator } from '../../../src/stages/simulator/simulator.ts'
import { prepareAccess } from '../../../src/stages/simulator/access.ts'
import { generateFleet } from '../../../src/stages/simulator/fleet.ts'
import { connect } from '../../../src/storage/connection.ts'
import { migrate } from '../../../src/storage/migrate.ts'
import { COMPACTED_TOPIC_CONFIGS } from '../../../src/stack/kafka.ts'
import { connectorEnv, startConnector, type TestConnector } from '../connector/harness.ts'
import { brokers, collect, processorTestEnv, produceAll, rawRecord } from '../../../harness/e2e-support.ts'
import { createTempDatabase, createTempTopics, kafkaAdmin, roleUrl, stackEnv, uniqueName, type TempDatabase, type TempTopics } from '../../../harness/stack.ts'
import { simulatorBrokerEnv, stackBroker } from '../../../harness/broker.ts'
import { pollUntil } from '../../../harness/wait.ts'
import { measurement as fixture } from '../../../harness/measurement.ts'

/**
 * The fleet stage on the real Kafka, PostgreSQL and Mosquitto: controllers go offline when
 * silent (within their threshold) or at once by their last will, come back on their next
 * message, a stalled processor does not make them look offline, the compacted topic gives one
 * current record per controller, dead letters become rows once, and the state survives a
 * restart. Activity records are written here directly, or by a real processor from what real
 * simulated controllers send through Mosquitto and the connector.
 */
const logger = createLogger('fleet-test', process.env.TEST_LOG_LEVEL ?? 'silent')
/** Expected interval 2 s × 1.5 = offline after 3 s of silence. */
const INTERVAL_S = 2
const MULTIPLE = 1.5
const THRESHOLD_MS = INTERVAL_S * MULTIPLE * 1000

const mac = (): string => `f1${randomBytes(5).toString('hex')}`

describe('fleet stage (real Kafka, PostgreSQL, Mosquitto)', () => {
  let ts: TempDatabase
  let reg: TempDatabase
  let sql: postgres.Sql
  let registry: postgres.Sql
  /** The stage's own connections, as the stack runs it: ts_fleet and the registry reader. */
  let asFleet: postgres.Sql
  let asReader: postgres.Sql
  /** The processor's registry connection (its own read-only role). */
  let processorSql: postgres.Sql
  let fleetUrl: string, readerUrl: string
  let topics: TempTopics
  let raw: string, decoded: string, activity: string, dead: string, state: string
  const running: Array<{ stage: FleetStage }> = []

  beforeAll(async () => {
    ts = await createTempDatabase('timeseries')
    reg = await createTempDatabase('registry')
    sql = postgres(ts.url, { max: 2, onnotice: () => {} })
    registry = postgres(reg.url, { max: 2, onnotice: () => {} })
    await migrate(sql, 'timeseries', { variant: 'plain' })
    await migrate(registry, 'registry')
    fleetUrl = roleUrl('timeseries', 'fleet', new URL(ts.url).pathname.slice(1))
    readerUrl = roleUrl('registry', 'reader', new URL(reg.url).pathname.slice(1))
    asFleet = connect(fleetUrl, { max: 2 })
    asReader = connect(readerUrl, { max: 1 })
    processorSql = postgres(roleUrl('registry', 'processor', new URL(reg.url).pathname.slice(1)), { max: 2, onnotice: () => {} })
    raw = uniqueName('fleet_raw'); decoded = uniqueName('fleet_dec'); activity = uniqueName('fleet_act'); dead = uniqueName('fleet_dead'); state = uniqueName('fleet_state')
    topics = await createTempTopics([raw, decoded, activity, dead], 3)
    const admin = kafkaAdmin()
    try {
      await admin.createTopics({ topics: [state], partitions: 3, replicas: 1, configs: [...COMPACTED_TOPIC_CONFIGS] })
    } finally {
      await admin.close()
    }
    topics.names.push(state)
  }, 90_000)

  afterAll(async () => {
    for (const r of running) await r.stage.stop(3000).catch(() => {})
    await sql?.end({ timeout: 1 }).catch(() => {})
    await registry?.end({ timeout: 1 }).catch(() => {})
    await asFleet?.end({ timeout: 1 }).catch(() => {})
    await asReader?.end({ timeout: 1 }).catch(() => {})
    await processorSql?.end({ timeout: 1 }).catch(() => {})
    await ts?.drop().catch(() => {})
    await reg?.drop().catch(() => {})
    await topics?.delete().catch(() => {})
  })

  async function startFleet (group: string, extra: Record<string, string> = {}, upstream?: UpstreamWatch): Promise<FleetStage> {
    const config = loadFleetConfig({
      KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap,
      KAFKA_ACTIVITY_TOPIC: activity,
      KAFKA_RAW_TOPIC: raw,
      KAFKA_DEAD_LETTER_TOPIC: dead,
      KAFKA_STATE_TOPIC: state,
      KAFKA_CONSUMER_GROUP: group,
      FLEET_INSTANCE_ID: uniqueName('f'),
      FLEET_EXPECTED_INTERVAL_S: String(INTERVAL_S),
      FLEET_OFFLINE_AFTER_INTERVALS: String(MULTIPLE),
      FLEET_FLUSH_INTERVAL_MS: '500',
      FLEET_CHECK_INTERVAL_MS: '100',
      ...postgresEnv('timeseries', fleetUrl),
      ...postgresEnv('registry', readerUrl),
      HTTP_PORT: '0',
      ...extra
    })
    const stage = new FleetStage({
      config,
      logger,
      metrics: createFleetMetrics(createRegistry('fleet')),
      store: new FleetStore(asFleet),
      intervals: async () => loadIntervals(asReader),
      upstream
    })
    await stage.start()
    running.push({ stage })
    return stage
  }

  /** A processor on raw → decoded + activity + dead letters; `stop` stops it and its registry cache. */
  async function startProcessor (group: string): Promise<{ stop: (deadlineMs: number) => Promise<void> }> {
    const config = loadProcessorConfig(processorTestEnv({ raw, decoded, activity, dead }, group, uniqueName('p'), new URL(reg.url).pathname.slice(1)))
    const metrics = createProcessorMetrics(createRegistry('processor'))
    const store = new RegistryStore(processorSql, {})
    await store.start()
    const stage = new ProcessorStage({ config, logger, metrics, resolver: store })
    await stage.start()
    return {
      stop: async (deadlineMs: number) => {
        await stage.stop(deadlineMs)
        await store.close()
      }
    }
  }

  /** Commits `group`'s offsets at the end of every partition of `topic`: it has read everything. */
  async function commitGroupAtEnd (group: string, topic: string): Promise<void> {
    const admin = kafkaAdmin()
    try {
      const ends = await admin.listOffsets({ topics: [{ name: topic, partitions: [0, 1, 2].map(i => ({ partitionIndex: i, timestamp: -1n })) }] })
      await admin.alterConsumerGroupOffsets({ groupId: group, topics: [{ name: topic, partitionOffsets: (ends[0]?.partitions ?? []).map(p => ({ partition: p.partitionIndex, offset: p.offset })) }] })
    } finally {
      await admin.close()
    }
  }

  const row = async (device: string): Promise<DeviceStateRecord & { last_seen: Date | null, since: Date } | undefined> =>
    (await sql`SELECT * FROM device_state WHERE device_id = ${device}`)[0] as never
  const events = async (device: string): Promise<Array<{ online: boolean, reason: string, time: Date }>> =>
    await sql`SELECT online, reason, time FROM device_state_events WHERE device_id = ${device} ORDER BY time, online` as never

  const measurement = (device: string, label: string, value: number, atMs: number): Measurement =>
    fixture(0, { timestamp: formatIso(atMs), device_id: device, datapoint_label: label, value, topic: `tele/f2-${device}/sensor-mode/J1/sensor-1`, received_at: formatIso(atMs) })
  /** What the processor writes for one message of `device` received at `atMs`. */
  const activityRecord = (device: string, atMs: number, head: Partial<ActivityHead> = {}, values: Measurement[] = [], rows = values.length) => {
    const w = new ActivityWriter()
    w.add({ device_id: device, receivedMs: atMs, mode: 'sensor-mode', presence: null, retained: false, ...head }, rows, values)
    return buildRecord(activity, device, w.finish())
  }

  it('online on a message, offline when silent past its threshold (dated at the threshold), online again on the next message; last values and counts', async () => {
    const stage = await startFleet(uniqueName('g'))
    const a = mac()
    const t0 = Date.now()
    // A message that could not be decoded, then one with three readings (one superseded).
    await produceAll([activityRecord(a, t0 - 500)])
    await produceAll([activityRecord(a, t0, {}, [
      measurement(a, 'Temperature', 20.5, t0 - 2000),
      measurement(a, 'Temperature', 21.5, t0 - 1000),
      measurement(a, 'Humidity', 40, t0 - 1000)
    ])])
    expect(await pollUntil(async () => (await row(a))?.online === true, 10_000)).toBe(true)
    expect(await pollUntil(async () => (await row(a))?.rows_last_hour === 3, 10_000)).toBe(true)
    const online = await row(a)
    expect(online).toMatchObject({ mode: 'sensor-mode', offline_reason: null, expected_interval_s: INTERVAL_S })
    expect(online?.last_seen?.getTime()).toBe(t0)
    const values = (online?.last_values ?? []).map(v => [v.datapoint_label, v.value]).sort()
    expect(values).toEqual([['Humidity', 40], ['Temperature', 21.5]])

    // Silent: offline once the threshold has passed, not much later.
    expect(await pollUntil(async () => (await row(a))?.online === false, THRESHOLD_MS + 5000, 100)).toBe(true)
    const offline = await row(a)
    expect(offline?.offline_reason).toBe('silent')
    expect(offline?.since.getTime()).toBe(t0 + THRESHOLD_MS)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(THRESHOLD_MS)

    await produceAll([activityRecord(a, Date.now(), { mode: 'alarm-mode' })])
    expect(await pollUntil(async () => (await row(a))?.online === true, 10_000)).toBe(true)
    expect((await row(a))?.mode).toBe('alarm-mode')
    expect((await events(a)).map(e => [e.online, e.reason])).toEqual([[true, 'message'], [false, 'silent'], [true, 'message']])
    // One writer at a time: every test stops its stage.
    await stage.stop(5000)
  }, 60_000)

  it('a simulated controller stopped with its will is offline within 2 s; one stopped silently within its threshold; both back online on their next message', async () => {
    const group = uniqueName('g')
    // The whole path: simulator → Mosquitto → connector → raw → processor → activity → fleet.
    const processorGroup = uniqueName('proc')
    const processor = await startProcessor(processorGroup)
    const upstream = new UpstreamWatch({ brokers: brokers(), group: processorGroup, topic: raw, intervalMs: 500, logger })
    upstream.start()
    const stage = await startFleet(group, {}, upstream)
    const broker = new URL(stackEnv().mqttUrl)
    const connector: TestConnector = await startConnector(connectorEnv({
      topic: raw, deadLetterTopic: dead, filters: ['tele/#', 'stat/#'], clientId: uniqueName('c'), group: uniqueName('share'), bootstrap: stackEnv().kafkaBootstrap,
      extra: { MQTT_BROKER: broker.hostname, MQTT_PORT: broker.port }
    }))
    let sim: Simulator | undefined
    const abort = new AbortController()
    try {
      // Each controller on its own TLS connection with its own account, as the stack runs them.
      const accounts = stackBroker()
      const config = loadSimulatorConfig({ ...simulatorBrokerEnv(accounts, accounts.pki.caCert), SIM_DEVICES: '3', SIM_SEED: String(Date.now() % 100_000), SIM_COMMANDS: 'false' })
      const fleet = generateFleet(3, config.seed)
      sim = createSimulator({ config, logger, metrics: simulatorMetrics(createRegistry('simulator')), fleet, access: await prepareAccess(config, fleet.map(c => c.mac), logger) })
      await sim.start()
      const [willing, silent] = sim.fleet.map(c => c.mac) as [string, string]
      const paced = sim.runPaced({ intervalMs: 500, warmupMs: 200, signal: abort.signal })
      for (const m of [willing, silent]) expect(await pollUntil(async () => (await row(m))?.online === true, 15_000), m).toBe(true)

      const stoppedAt = Date.now()
      await sim.stopController(willing, 'will')
      await sim.stopController(silent, 'silent')
      expect(await pollUntil(async () => (await row(willing))?.online === false, 2000, 50)).toBe(true)
      expect(Date.now() - stoppedAt).toBeLessThan(2000)
      expect((await row(willing))?.offline_reason).toBe('will')
      // Silent: no will, only the threshold (3 s after its last message) can tell.
      expect((await row(silent))?.online).toBe(true)
      expect(await pollUntil(async () => (await row(silent))?.online === false, THRESHOLD_MS + 3000, 100)).toBe(true)
      expect((await row(silent))?.offline_reason).toBe('silent')

      await sim.resumeController(willing)
      await sim.resumeController(silent)
      for (const m of [willing, silent]) expect(await pollUntil(async () => (await row(m))?.online === true, 10_000), m).toBe(true)
      expect((await events(willing)).map(e => [e.online, e.reason])).toEqual([[true, 'message'], [false, 'will'], [true, 'message']])
      expect((await events(silent)).map(e => [e.online, e.reason])).toEqual([[true, 'message'], [false, 'silent'], [true, 'message']])
      abort.abort()
      await paced
    } finally {
      abort.abort()
      await sim?.stop()
      await connector.stop()
      await stage.stop(5000)
      await upstream.stop()
      await processor.stop(5000)
    }
  }, 90_000)

  it('while the processor is behind on raw_iot_data, silence is judged by the newest receipt time read: a stalled processor makes no controller offline', async () => {
    const processorGroup = uniqueName('stalled')
    const c = mac()
    // The processor's group has committed up to here, and a raw message is waiting after it.
    await produceAll([rawRecord(raw, `tele/f2-${c}/sensor-mode/J1/sensor-1`, { timestamp: 'x' })])
    await commitGroupAtEnd(processorGroup, raw)
    await produceAll([rawRecord(raw, `tele/f2-${c}/sensor-mode/J1/sensor-1`, { timestamp: 'y' })])
    const upstream = new UpstreamWatch({ brokers: brokers(), group: processorGroup, topic: raw, intervalMs: 300, logger })
    upstream.start()
    const stage = await startFleet(uniqueName('g'), {}, upstream)
    try {
      expect(await pollUntil(async () => upstream.behind, 10_000)).toBe(true)
      const t0 = Date.now()
      await produceAll([activityRecord(c, t0)])
      expect(await pollUntil(async () => (await row(c))?.online === true, 10_000)).toBe(true)
      // Well past its threshold by the wall clock, nothing newer has been read: still online.
      await new Promise(resolve => setTimeout(resolve, THRESHOLD_MS + 2000))
      expect((await row(c))?.online).toBe(true)
      // The processor catches up: the wall clock judges again, and the silence is seen at once.
      await commitGroupAtEnd(processorGroup, raw)
      expect(await pollUntil(async () => (await row(c))?.online === false, 10_000)).toBe(true)
      expect((await row(c))?.since.getTime()).toBe(t0 + THRESHOLD_MS)
    } finally {
      await stage.stop(5000)
      await upstream.stop()
    }
  }, 60_000)

  it('device_state read from the beginning by a new consumer gives exactly one current record per controller', async () => {
    // Whatever the earlier tests left: settle, then compare the topic with the table.
    await new Promise(resolve => setTimeout(resolve, 1500))
    const records = await collect(state, { quietMs: 3000, timeoutMs: 30_000 })
    const latest = new Map<string, DeviceStateRecord>()
    for (const r of records) if (r.key !== null) latest.set(r.key, JSON.parse(r.value.toString()) as DeviceStateRecord)
    const rows = await sql<Array<{ device_id: string, online: boolean, last_seen: Date | null, offline_reason: string | null }>>`SELECT device_id, online, last_seen, offline_reason FROM device_state ORDER BY device_id`
    expect(rows.length).toBeGreaterThan(0)
    expect([...latest.keys()].sort()).toEqual(rows.map(r => r.device_id))
    for (const r of rows) {
      const rec = latest.get(r.device_id) as DeviceStateRecord
      expect(rec.device_id).toBe(r.device_id)
      expect([rec.online, rec.offline_reason], r.device_id).toEqual([r.online, r.offline_reason])
      expect(rec.last_seen === null ? null : Date.parse(rec.last_seen), r.device_id).toBe(r.last_seen?.getTime() ?? null)
    }
  }, 60_000)

  it('dead letters become rows once (idempotent on partition and offset, and on the message key), attributed and counted; the registry interval applies and a change is seen without restart; state survives a restart', async () => {
    const b = mac()
    await registry`INSERT INTO "Device" ("DeviceName", "MacAddress", "ExpectedReportingIntervalS") VALUES ('B', ${b}, 30)`
    const group = uniqueName('g')
    const first = await startFleet(group)
    // In the registry, never heard from: a row, offline.
    expect(await pollUntil(async () => (await row(b))?.expected_interval_s === 30, 10_000)).toBe(true)
    expect((await row(b))?.online).toBe(false)
    await produceAll([activityRecord(b, Date.now(), {}, [], 0)])
    const dl = buildDeadLetter({ reason: ErrorCodes.TOPIC_INVALID, message: 'bad \u0000 topic', stage: 'processor', failedAtMs: Date.now(), mqttTopic: `tele/f2-${b}/sensor-mode/J1/sensor-9`, originalValue: Buffer.from('x') })
    await produceAll([buildRecord(dead, b, encodeDeadLetter(dl), { reason: dl.reason })])
    expect(await pollUntil(async () => (await row(b))?.dead_letters_last_hour === 1 && (await row(b))?.online === true, 10_000)).toBe(true)
    const stored = await sql`SELECT reason, stage, device_id, mqtt_topic, record->>'reason' AS record_reason FROM dead_letters WHERE device_id = ${b}`
    expect(stored).toEqual([{ reason: 'F2_TOPIC_INVALID', stage: 'processor', device_id: b, mqtt_topic: `tele/f2-${b}/sensor-mode/J1/sensor-9`, record_reason: 'F2_TOPIC_INVALID' }])

    // A change in the registry is seen without restart (NOTIFY or the next read).
    await registry`UPDATE "Device" SET "ExpectedReportingIntervalS" = 45 WHERE "MacAddress" = ${b}`
    first.registryChanged()
    expect(await pollUntil(async () => (await row(b))?.expected_interval_s === 45, 10_000)).toBe(true)

    // Restart in the same group: the state is read back, nothing is counted twice.
    await first.stop(5000)
    const before = await row(b)
    const second = await startFleet(group)
    expect(await pollUntil(async () => second.readiness().checks.state_restored === true, 10_000)).toBe(true)
    expect(second.state.record(b, Date.now())).toMatchObject({ online: true, dead_letters_last_hour: 1, expected_interval_s: 45 })
    await new Promise(resolve => setTimeout(resolve, 1500))
    expect((await row(b))?.online).toBe(before?.online)
    expect((await row(b))?.dead_letters_last_hour).toBe(1)

    // Another group reads the whole dead-letter topic again: still one row per record. The same
    // message dead-lettered again (redelivered after a crash: another record, time and offset,
    // one message_key) adds no row either.
    await second.stop(5000)
    const again = buildDeadLetter({ reason: ErrorCodes.TOPIC_INVALID, message: 'bad \u0000 topic', stage: 'processor', failedAtMs: Date.now() + 1000, mqttTopic: `tele/f2-${b}/sensor-mode/J1/sensor-9`, originalValue: Buffer.from('x') })
    expect(again.message_key).toBe(dl.message_key)
    await produceAll([buildRecord(dead, b, encodeDeadLetter(again), { reason: again.reason })])
    const third = await startFleet(uniqueName('g'))
    await new Promise(resolve => setTimeout(resolve, 3000))
    await third.stop(5000)
    expect(await sql`SELECT count(*)::int AS n FROM dead_letters WHERE device_id = ${b}`).toEqual([{ n: 1 }])
  }, 90_000)
})
