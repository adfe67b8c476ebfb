import mqtt from 'mqtt'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createLogger } from '../../src/adapters/logger.ts'
import { createRegistry } from '../../src/adapters/metrics.ts'
import { decodeDeadLetter, type DeadLetter } from '../../src/core/dead-letter.ts'
import { ErrorCodes } from '../../src/core/errors.ts'
import { addController, addSensor } from '../../src/registry/admin.ts'
import { loadSimulatorConfig } from '../../src/stages/simulator/config.ts'
import { simSensor, TEMPLATES, type SimController } from '../../src/stages/simulator/fleet.ts'
import { simulatorMetrics } from '../../src/stages/simulator/metrics.ts'
import { loadFleet } from '../../src/stages/simulator/registry-fleet.ts'
import { createSimulator, type SentMessage, type Simulator } from '../../src/stages/simulator/simulator.ts'
import { migrate } from '../../src/storage/migrate.ts'
import { createTempDatabase, createTempTopics, stackEnv, uniqueName, type TempDatabase, type TempTopics } from '../../harness/stack.ts'
import { freePorts } from '../../src/stack/ports.ts'
import { startPrivateMosquitto, type PrivateMosquitto } from '../../harness/private-mosquitto.ts'
import { simulatorBrokerEnv, testAccount } from '../../harness/broker.ts'
import { prepareAccess } from '../../src/stages/simulator/access.ts'
import { collect, spawnCli, type ChildService } from '../../harness/e2e-support.ts'
import { postgresEnv } from '../../src/adapters/connections/postgres.ts'
import { pollUntil } from '../../harness/wait.ts'

/**
 * The whole path with every stage a real process: simulator → Mosquitto → connector →
 * Kafka → processor (registry) → Kafka → sink → PostgreSQL, on topics, groups, databases
 * and a broker of its own. Every message the simulator sent must be accounted for, as rows
 * with the values it encoded or as dead letters with their reason; dead letters of an
 * unknown controller land once it is registered and they are replayed.
 */
const N = 600
const SEED = 4242
const UNKNOWN_MESSAGES = 6
const STAGES = ['connector', 'processor', 'sink'] as const

/** One row as the test expects it (or reads it): the primary key and the value. */
interface Row { ts: string, device: string, connector: number, mode: string, label: string, pin: string, value: number | null, text: string | null }
const keyOf = (r: Row): string => `${r.ts}|${r.device}|${r.connector}|${r.mode}|${r.label}|${r.pin}`

const TOPIC_RE = /^(?:tele|stat)\/f2-([0-9a-f]{12})\/([a-z-]+)\/J(\d)\/([a-z-]+?)(?:-(\d+))?$/

/**
 * What a data point carries of `v`: an integer one the value scaled by 10^decimals, rounded
 * half away from zero (computed with decimal shifts so that binary fractions do not move
 * the rounding); a float one its float32, read back as the shortest decimal that is that
 * same float32 (27.93, not 27.930000305…).
 */
function stored (v: number, def: { dataFormat: string, decimals: number | null }): number {
  if (/^float/i.test(def.dataFormat)) {
    const f = Math.fround(v)
    for (let p = 1; p <= 9; p++) if (Math.fround(Number(f.toPrecision(p))) === f) return Number(f.toPrecision(p))
    return f
  }
  const d = def.decimals ?? 0
  const n = Math.sign(v) * Math.round(Math.abs(Number(`${v}e${d}`)))
  return d === 0 ? n : Number(`${n}e-${d}`)
}

/** The rows one sent message must become. */
function expectedRows (m: SentMessage, fleet: readonly SimController[]): Row[] {
  const t = TOPIC_RE.exec(m.topic)
  if (t === null) throw new Error(`unexpected topic ${m.topic}`)
  const [, device, mode, conn, component, pos] = t as unknown as [string, string, string, string, string, string | undefined]
  const base = { ts: m.id, device, connector: Number(conn), mode, text: null }
  const payload = JSON.parse(m.payload) as Record<string, unknown>
  const flag = (v: unknown): number => v === true ? 1 : 0
  switch (component) {
    case 'sensor': {
      const sensor = fleet.find(c => c.mac === device)?.connectors.find(c => c.number === Number(conn))?.sensors.find(s => s.pin === Number(pos))
      if (sensor === undefined || m.values === undefined) throw new Error(`no sensor for ${m.topic}`)
      return sensor.dataPoints.map(dp => ({ ...base, label: dp.label, pin: String(pos), value: stored(m.values?.[dp.label] as number, dp) }))
    }
    case 'door-sensors':
    case 'exit-buttons': {
      const prefix = component === 'door-sensors' ? 'door-sensor' : 'exit-button'
      return [1, 2].map(i => ({ ...base, label: prefix, pin: String(i), value: flag(payload[`${prefix}-${i}`]) }))
    }
    case 'motion-sensor': return [{ ...base, label: 'motion-sensor-status', pin: String(pos), value: flag(payload.status) }]
    case 'reader': return [{ ...base, label: 'scan', pin: String(pos), value: null, text: m.text ?? null }]
    default: throw new Error(`unexpected component in ${m.topic}`)
  }
}

describe('full path: simulator → Mosquitto → connector → Kafka → processor → sink → PostgreSQL', () => {
  let broker: PrivateMosquitto
  let registry: TempDatabase
  let timeseries: TempDatabase
  let topics: TempTopics
  let reg: postgres.Sql
  let ts: postgres.Sql
  const children = new Map<string, ChildService>()
  const sims: Simulator[] = []
  let raw = ''
  let dead = ''

  const logs = (): string => [...children].map(([name, c]) => `--- ${name}\n${c.output().slice(-3000)}`).join('\n')

  // Every simulated controller connects over TLS with its own account, as a real one does.
  const simulator = async (seed: number, fleet: SimController[]): Promise<Simulator> => {
    const config = loadSimulatorConfig({ ...simulatorBrokerEnv(broker, broker.pki.caCert), SIM_SEED: String(seed), ...postgresEnv('registry', registry.url) })
    const logger = createLogger('simulator', 'warn')
    const access = await prepareAccess(config, fleet.map(c => c.mac), logger)
    const sim = createSimulator({ config, logger, metrics: simulatorMetrics(createRegistry('simulator')), fleet, access })
    sims.push(sim)
    return sim
  }

  const readRows = async (where: postgres.PendingQuery<postgres.Row[]> | undefined = undefined): Promise<Row[]> => {
    const rows = await ts<Array<{ ts: string, device_id: string, connector: number, connector_mode: string, datapoint_label: string, pin_position: string, value: number | null, value_text: string | null }>>`
      SELECT to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS ts, device_id, connector, connector_mode,
        datapoint_label, pin_position, value, value_text
      FROM iot_measurements ${where ?? ts``}`
    return rows.map(r => ({ ts: r.ts, device: r.device_id, connector: r.connector, mode: r.connector_mode, label: r.datapoint_label, pin: r.pin_position, value: r.value, text: r.value_text }))
  }
  const rowCount = async (): Promise<number> => Number((await ts`SELECT count(*)::int AS n FROM iot_measurements`)[0]?.n)
  const deadLetters = async (): Promise<DeadLetter[]> =>
    (await collect(dead, { quietMs: 3000, timeoutMs: 30_000 })).map(r => {
      const d = decodeDeadLetter(r.value)
      if (!d.ok) throw new Error(`undecodable dead letter: ${d.error.message}`)
      return d.value
    })

  beforeAll(async () => {
    broker = await startPrivateMosquitto()
    registry = await createTempDatabase('registry')
    timeseries = await createTempDatabase('timeseries')
    reg = postgres(registry.url, { max: 2, onnotice: () => {} })
    ts = postgres(timeseries.url, { max: 2, onnotice: () => {} })
    // The registry's migrations bring the seed's sample controllers and sensors.
    await migrate(reg, 'registry')
    await migrate(ts, 'timeseries')
    topics = await createTempTopics([uniqueName('fp_raw'), uniqueName('fp_decoded'), uniqueName('fp_dead'), uniqueName('fp_activity')], 3)
    ;[raw, , dead] = topics.names as [string, string, string]
    const decoded = topics.names[1] as string
    const ports = await freePorts(STAGES.length)
    const common = {
      KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap, KAFKA_DEAD_LETTER_TOPIC: dead, KAFKA_SESSION_TIMEOUT_MS: '6000',
      MQTT_BROKER: '127.0.0.1', MQTT_PORT: String(broker.port), ...postgresEnv('registry', registry.url), ...postgresEnv('timeseries', timeseries.url)
    }
    const env: Record<(typeof STAGES)[number], Record<string, string>> = {
      connector: { MQTT_USERNAME: broker.connector.username, MQTT_PASSWORD: broker.connector.password, KAFKA_TOPIC: raw, MQTT_SHARE_GROUP: uniqueName('fp_share'), CONNECTOR_CLIENT_ID: uniqueName('fp_connector') },
      processor: { KAFKA_INPUT_TOPIC: raw, KAFKA_OUTPUT_TOPIC: decoded, KAFKA_ACTIVITY_TOPIC: topics.names[3] as string, KAFKA_CONSUMER_GROUP: uniqueName('fp_proc'), PROCESSOR_INSTANCE_ID: uniqueName('fp_p') },
      sink: { KAFKA_INPUT_TOPIC: decoded, KAFKA_CONSUMER_GROUP: uniqueName('fp_sink'), SINK_INSTANCE_ID: uniqueName('fp_s'), SINK_BATCH_WAIT_MS: '100' }
    }
    STAGES.forEach((name, i) => { children.set(name, spawnCli([name], { ...common, ...env[name], HTTP_PORT: String(ports[i]) })) })
    // The processor's producer counts as ready only after its first write, so for it a
    // consumer in its group and a reachable registry are enough (a new group starts at the earliest offset).
    const ready = await pollUntil(async () => {
      const states = await Promise.all(STAGES.map(async (name, i) => {
        const res = await fetch(`http://127.0.0.1:${ports[i]}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined)
        if (res?.status === 200) return true
        const checks = (await res?.json().catch(() => undefined) as { checks?: Record<string, boolean> } | undefined)?.checks
        return name === 'processor' && checks?.kafka_consumer === true && checks.registry === true
      }))
      return states.every(Boolean) || [...children.values()].some(c => c.child.exitCode !== null)
    }, 90_000, 300)
    const exited = [...children].filter(([, c]) => c.child.exitCode !== null).map(([n]) => n)
    if (!ready || exited.length > 0) {
      const states = await Promise.all(STAGES.map(async (name, i) =>
        `${name}: ${await (await fetch(`http://127.0.0.1:${ports[i]}/readyz`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined))?.text()}`))
      throw new Error(`stages not ready (exited: ${exited.join(', ') || 'none'}; ${states.join('; ')})\n${logs()}`)
    }
  }, 150_000)

  afterAll(async () => {
    for (const s of sims) await s.stop().catch(() => {})
    await Promise.all([...children.values()].map(c => c.kill('SIGTERM')))
    await reg?.end({ timeout: 1 }).catch(() => {})
    await ts?.end({ timeout: 1 }).catch(() => {})
    await registry?.drop()
    await timeseries?.drop()
    await topics?.delete()
    await broker?.stop()
  }, 60_000)

  let unknownMac = ''
  let strangerFleet: SimController[] = []
  let strangers: SentMessage[] = []

  it('accounts for every message the simulator sent, with the values it encoded', async () => {
    const { fleet } = await loadFleet({ devices: 0, seed: SEED, register: false, registry: registry.url, logger: createLogger('simulator', 'warn'), waitMs: 10_000 })
    expect(fleet.map(c => c.mac).sort()).toEqual(['123456abcdef', 'abc123def456', 'e4fd45f654be'])
    const sim = await simulator(SEED, fleet)
    await sim.start()
    const sent = await sim.sendCount(N)
    expect(sent).toHaveLength(N)

    // A controller that is not in the registry: every one of its readings is dead-lettered.
    unknownMac = `e2e0${uniqueName('m').slice(-8)}`
    strangerFleet = [{ mac: unknownMac, name: 'unregistered', connectors: [{ number: 1, mode: 'sensor-mode', sensors: [simSensor(1, { name: 'Environmental Sensor', dataPoints: [...TEMPLATES['Environmental Sensor'].dataPoints] })] }] }]
    const stranger = await simulator(SEED + 1, strangerFleet)
    await stranger.start()
    strangers = await stranger.sendCount(UNKNOWN_MESSAGES)

    // Outputs only answer commands: strike on, strike off, siren on (then asked), a reader LED reply.
    const operator = await testAccount(broker, { publish: ['cmnd/#'] })
    const commander = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: uniqueName('fp_cmd'), username: operator.username, password: operator.password })
    const commands: Array<[string, string]> = []
    for (const c of fleet) {
      const access = c.connectors.find(k => k.mode === 'access-control-mode')?.number
      const alarm = c.connectors.find(k => k.mode === 'alarm-mode')?.number
      commands.push(
        [`cmnd/f2-${c.mac}/access-control-mode/J${access}/strike-1`, '{"power-flag": 1}'],
        [`cmnd/f2-${c.mac}/access-control-mode/J${access}/strike-2`, '{"power-flag": 0}'],
        [`cmnd/f2-${c.mac}/alarm-mode/J${alarm}/siren-1`, '1'],
        [`cmnd/f2-${c.mac}/alarm-mode/J${alarm}/siren-1`, ''],
        [`cmnd/f2-${c.mac}/access-control-mode/J${access}/reader-1/success`, '2']
      )
    }
    for (const [topic, payload] of commands) await commander.publishAsync(topic, payload, { qos: 1 })
    await commander.endAsync()
    expect(await pollUntil(async () => sim.commandsHandled() === commands.length, 15_000)).toBe(true)

    const expected = sent.flatMap(m => expectedRows(m, fleet))
    const replies = fleet.length * 4 // strike-1, strike-2, siren-1, reader frame
    const kinds = new Set(sent.map(m => m.topic.split('/')[4]?.replace(/-\d+$/, '')))
    // The seed makes the set known: every component kind a controller reports is in it.
    expect([...kinds].sort()).toEqual(['door-sensors', 'exit-buttons', 'motion-sensor', 'reader', 'sensor'])

    const total = expected.length + replies
    const arrived = await pollUntil(async () => await rowCount() >= total, 90_000, 500)
    // Anything still in flight lands now or never (it would be a duplicate or a stray).
    await new Promise(resolve => setTimeout(resolve, 1500))
    const rows = await readRows()
    expect({ arrived, rows: rows.length }, logs()).toEqual({ arrived: true, rows: total })

    // Every expected key exactly once, with the value the simulator encoded.
    const byKey = new Map(rows.map(r => [keyOf(r), r]))
    expect(byKey.size).toBe(rows.length)
    const missing = expected.filter(e => !byKey.has(keyOf(e)))
    expect(missing.slice(0, 5), `${missing.length} missing`).toEqual([])
    const wrong = expected.filter(e => { const r = byKey.get(keyOf(e)); return r?.value !== e.value || r.text !== e.text })
      .map(e => ({ expected: e, got: byKey.get(keyOf(e)) }))
    expect(wrong.slice(0, 5), `${wrong.length} with other values`).toEqual([])

    // The seed's sample sensors, by label: each reading of each one landed.
    const perLabel = (device: string, label: string): number => rows.filter(r => r.device === device && r.label === label).length
    const readings = (device: string, topicPart: string): number => sent.filter(m => m.topic.startsWith(`tele/f2-${device}/`) && m.topic.endsWith(topicPart)).length
    for (const label of ['Temperature', 'Humidity', 'CO2']) {
      expect(perLabel('123456abcdef', label)).toBe(readings('123456abcdef', 'J4/sensor-3'))
    }
    for (const label of ['Voltage', 'Current']) expect(perLabel('abc123def456', label)).toBe(readings('abc123def456', 'J2/sensor-2'))
    for (const label of ['Active Power', 'Energy']) expect(perLabel('e4fd45f654be', label)).toBe(readings('e4fd45f654be', 'J1/sensor-2'))
    expect(readings('e4fd45f654be', 'J1/sensor-1')).toBeGreaterThan(0)

    // States and text: doors, exit buttons, motion, scans (from events), strike, siren and the reader reply (from commands).
    const labels = new Set(rows.map(r => r.label))
    for (const l of ['door-sensor', 'exit-button', 'motion-sensor-status', 'scan', 'strike-status', 'siren-status', 'reader-frame']) expect(labels.has(l), l).toBe(true)
    expect(rows.filter(r => ['door-sensor', 'exit-button', 'motion-sensor-status', 'strike-status', 'siren-status'].includes(r.label)).every(r => r.value === 0 || r.value === 1)).toBe(true)
    expect(rows.filter(r => r.label === 'scan').every(r => r.value === null && (r.text ?? '').length > 0)).toBe(true)
    for (const c of fleet) {
      const of = (label: string): Array<[string, number | null, string | null]> =>
        rows.filter(r => r.device === c.mac && r.label === label).map(r => [r.pin, r.value, r.text] as [string, number | null, string | null]).sort()
      expect(of('strike-status'), c.mac).toEqual([['1', 1, null], ['2', 0, null]])
      expect(of('siren-status'), c.mac).toEqual([['1', 1, null]])
      expect(of('reader-frame'), c.mac).toEqual([['1', null, '02 02 02 00 00 00 03 03']])
    }

    // Nothing of the unknown controller is stored; each of its messages is one dead letter, and nothing else is.
    expect(rows.filter(r => r.device === unknownMac)).toEqual([])
    const dls = await deadLetters()
    expect(dls.map(d => [d.reason, d.stage, d.mqtt_topic]).sort()).toEqual(
      strangers.map(m => [ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER, 'processor', m.topic]).sort())
    expect(new Set(dls.map(d => `${d.source?.partition}/${d.source?.offset}`)).size).toBe(UNKNOWN_MESSAGES)
  }, 150_000)

  it('stores the unknown controller\'s readings once it is registered and its dead letters are replayed', async () => {
    expect(unknownMac).not.toBe('')
    const before = await rowCount()
    await addController(reg, { mac: unknownMac, name: 'late arrival' })
    await addSensor(reg, { controller: unknownMac, connector: 1, pin: 1, template: 'Environmental Sensor' })
    // The processor's registry cache drops its entries on NOTIFY; give the notification a moment.
    await new Promise(resolve => setTimeout(resolve, 2000))

    const replay = spawnCli(['replay', '--reason', ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER], {
      KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap, KAFKA_INPUT_TOPIC: raw, KAFKA_DEAD_LETTER_TOPIC: dead
    })
    children.set('replay', replay)
    const code = await new Promise<number | null>(resolve => {
      if (replay.child.exitCode !== null) resolve(replay.child.exitCode)
      else replay.child.once('exit', c => { resolve(c) })
    })
    expect(code, replay.output()).toBe(0)
    const report = JSON.parse(replay.output().trim().split('\n').filter(l => l.startsWith('{"reason"')).at(-1) ?? '{}') as Record<string, unknown>
    expect(report).toEqual({ reason: ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER, dryRun: false, scanned: UNKNOWN_MESSAGES, matched: UNKNOWN_MESSAGES, replayed: UNKNOWN_MESSAGES, truncated: 0 })

    const dps = TEMPLATES['Environmental Sensor'].dataPoints
    const landed = await pollUntil(async () => await rowCount() >= before + UNKNOWN_MESSAGES * dps.length, 60_000, 500)
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect({ landed, rows: await rowCount() }, logs()).toEqual({ landed: true, rows: before + UNKNOWN_MESSAGES * dps.length })

    // The values the simulator encoded for the (then unknown) controller, key by key.
    const rows = await readRows(ts`WHERE device_id = ${unknownMac}`)
    const expected = strangers.flatMap(m => expectedRows(m, strangerFleet))
    const key = (r: Row): string => `${keyOf(r)}=${r.value}`
    expect(rows.map(key).sort()).toEqual(expected.map(key).sort())
    // Replaying stored nothing twice and produced no new dead letters.
    expect(new Set(rows.map(keyOf)).size).toBe(rows.length)
    expect((await deadLetters()).length).toBe(UNKNOWN_MESSAGES)
  }, 120_000)
})
