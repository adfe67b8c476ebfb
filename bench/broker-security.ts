/**
 * What broker security costs: the same load against Mosquitto as it was (anonymous, plain,
 * no topic rules: "open") and as shipped (templates/mosquitto/mosquitto.conf: every controller
 * its own account and topics, over plain MQTT and over TLS), in one sitting.
 *
 *   npm run bench:broker -- [--devices 100] [--seconds 15] [--window 20]
 *
 * Each mode gets a fresh private broker; the load generator (harness/load-worker.ts) connects
 * one client per controller and publishes QoS 1 as fast as the per-controller windows allow,
 * while one subscriber (the connector's role) takes every message through a shared
 * subscription. Reported per mode: acknowledged messages/s, messages delivered, and the
 * broker's CPU per 10 000 messages; the ratios are against "open". The JSON summary is the
 * last line printed.
 */
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createMqttClient } from '../src/adapters/mqtt.ts'
import { generateFleet } from '../src/stages/simulator/fleet.ts'
import { startPrivateMosquitto, type PrivateMosquitto } from '../harness/private-mosquitto.ts'
import { machineInfo, machineLine } from './lib/machine.ts'
import { readProc, round } from './lib/proc.ts'
import { table } from './lib/report.ts'
import type { LoadOptions, LoadProgress } from '../harness/load-worker.ts'
import { ROOT } from './lib/stack.ts'
import type { AccessSettings } from '../src/stages/simulator/access.ts'

const { values: a } = parseArgs({
  options: {
    devices: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '15' },
    window: { type: 'string', default: '20' },
    seed: { type: 'string', default: '7' }
  }
})
const devices = Number(a.devices)
const seconds = Number(a.seconds)
const work = mkdtempSync(join(tmpdir(), 'f2-bench-broker-'))
const log = (s: string): void => { process.stderr.write(`${s}\n`) }

type Mode = 'open' | 'plain' | 'tls'
interface ModeResult { mode: Mode, acked: number, delivered: number, messagesPerSecond: number, brokerCpuPer10k: number }

async function runMode (mode: Mode): Promise<ModeResult> {
  const broker: PrivateMosquitto = await startPrivateMosquitto({ open: mode === 'open' })
  try {
    const fleet = generateFleet(devices, Number(a.seed))
    let access: AccessSettings
    let subscriber: { username?: string, password?: string } = {}
    if (mode === 'open') {
      // No accounts at all: any username passes; the load generator still names each controller.
      const file = join(work, 'open-credentials.csv')
      writeFileSync(file, fleet.map(c => `${c.mac},f2-${c.mac},unused`).join('\n'))
      access = { transport: 'plain', mqttUrl: broker.url, mqttTlsUrl: broker.url, mqttCaFile: undefined, adminUsername: '', adminPassword: undefined, credentialsFile: file }
    } else {
      access = { transport: mode, mqttUrl: broker.url, mqttTlsUrl: broker.mqttsPasswordUrl, mqttCaFile: broker.pki.caCert, adminUsername: broker.admin.username, adminPassword: broker.admin.password, credentialsFile: undefined }
      subscriber = broker.connector
    }
    let delivered = 0
    const sub = createMqttClient({ url: broker.url, clientId: 'bench-connector', ...subscriber, subscriptions: [{ filter: '$share/bench/tele/#', qos: 1 }, { filter: '$share/bench/stat/#', qos: 1 }], onMessage: () => { delivered++ } })
    await sub.waitConnected()
    const options: LoadOptions = {
      access, devices, seed: Number(a.seed), rate: 0, durationS: 0, count: 0, windowPerConnection: Number(a.window),
      mix: 'sim', unknownFraction: 0, expectedFile: join(work, `${mode}-expected.tsv`), clientPrefix: `bench-${mode}`
    }
    const child = fork(join(ROOT, 'harness', 'load-worker.ts'), [JSON.stringify(options)], { execPath: process.execPath, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    // Counted from the first progress report: connecting and provisioning are not the steady state.
    let cpu0 = 0
    let acked0 = 0
    let t0 = 0
    let last: LoadProgress | undefined
    const done = new Promise<LoadProgress>((resolve, reject) => {
      child.on('message', (p: LoadProgress) => {
        if (t0 === 0) { t0 = performance.now(); acked0 = p.acked; cpu0 = readProc(broker.pid)?.cpuSeconds ?? 0 }
        last = p
        if (p.type === 'done') resolve(p)
      })
      child.once('exit', code => { if (last?.type !== 'done') reject(new Error(`load generator exited with ${code}`)) })
    })
    child.send({ credit: -1 })
    await new Promise(resolve => setTimeout(resolve, 1000))
    while (t0 === 0 || performance.now() - t0 < seconds * 1000) await new Promise(resolve => setTimeout(resolve, 100))
    const cpu1 = readProc(broker.pid)?.cpuSeconds ?? 0
    const acked1 = last?.acked ?? 0
    const elapsed = (performance.now() - t0) / 1000
    child.send({ stop: true })
    await done
    await sub.close(true)
    const acked = acked1 - acked0
    return { mode, acked, delivered, messagesPerSecond: round(acked / elapsed), brokerCpuPer10k: round((cpu1 - cpu0) / acked * 10_000, 3) }
  } finally {
    await broker.stop()
  }
}

const machine = await machineInfo()
const results: ModeResult[] = []
for (const mode of ['open', 'plain', 'tls'] as const) {
  log(`${mode}: ${devices} controllers, ${seconds} s`)
  results.push(await runMode(mode))
}
rmSync(work, { recursive: true, force: true })
const open = results[0] as ModeResult
const ratio = (r: ModeResult): { throughput: number, brokerCpuPerMessage: number } =>
  ({ throughput: round(r.messagesPerSecond / open.messagesPerSecond, 2), brokerCpuPerMessage: round(r.brokerCpuPer10k / open.brokerCpuPer10k, 2) })
process.stdout.write(`Machine: ${machineLine(machine)}\n\n`)
process.stdout.write(table(['mode', 'messages/s (QoS 1 acknowledged)', 'broker CPU s / 10k messages', 'throughput vs open', 'broker CPU/message vs open'],
  results.map(r => [r.mode, r.messagesPerSecond, r.brokerCpuPer10k, ratio(r).throughput, ratio(r).brokerCpuPerMessage])) + '\n')
process.stdout.write(JSON.stringify({ devices, seconds, window: Number(a.window), results, ratios: { plain: ratio(results[1] as ModeResult), tls: ratio(results[2] as ModeResult) } }) + '\n')
