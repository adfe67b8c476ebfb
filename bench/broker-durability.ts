/**
 * What the broker's persistence settings cost, measured in one sitting against the former
 * 30 s autosave, on private brokers (the shared stack is not touched):
 *
 *   npm run bench:durability -- [--seconds 8] [--rounds 2] [--settings changes:1,changes:100,seconds:1]
 *
 * A setting is `changes:N` (autosave_on_changes true, autosave_interval N: a save after every
 * N changes) or `seconds:N` (a save every N seconds); `seconds:30` is the baseline and always
 * runs. The stack's own setting (templates/mosquitto/mosquitto.conf) is marked in the report.
 *
 * Per setting and scenario, `publishers` clients (one per controller, 50 by default) send QoS 1
 * messages as fast as `window` (4) in flight each allow:
 * "connected" — a persistent-session subscriber takes and acknowledges everything at once
 * (the connector keeping up: the broker's queue stays near empty); "backlog" — the subscriber
 * is offline, so everything stays queued (the connector down). Reports acknowledged messages
 * per second and broker CPU seconds per 1 000 messages, and the ratio setting / 30 s, rounds
 * alternated to share the machine's noise → results/broker-durability.{json,md}.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import mqtt from 'mqtt'
import { stackPersistence, startPrivateMosquitto } from '../harness/private-mosquitto.ts'
import { machineInfo, machineLine } from './lib/machine.ts'
import { readProc, round } from './lib/proc.ts'
import { table, writeFile } from './lib/report.ts'
import { ROOT } from './lib/stack.ts'

const { values: a } = parseArgs({ options: { seconds: { type: 'string', default: '8' }, rounds: { type: 'string', default: '2' }, settings: { type: 'string', default: 'changes:1,changes:100,changes:1000,seconds:1' }, publishers: { type: 'string', default: '50' }, window: { type: 'string', default: '4' } } })
const publishers = Number(a.publishers)
const window = Number(a.window)
const seconds = Number(a.seconds)
const rounds = Number(a.rounds)
const BASELINE = 'seconds:30'
const settings = [...new Set([...a.settings.split(','), BASELINE])]
for (const s of settings) if (!/^(changes|seconds):\d+$/.test(s)) throw new Error(`bad setting ${s}: expected changes:N or seconds:N`)

type Setting = string
type Scenario = 'connected' | 'backlog'
interface Sample { setting: Setting, scenario: Scenario, round: number, acked: number, perSecond: number, cpuMsPer1000: number, queuedAtEnd: number }

function persistenceFor (setting: Setting, dir: string): string {
  const [kind, n] = setting.split(':')
  const base = stackPersistence(dir).split('\n').filter(l => !l.startsWith('autosave_'))
  return [...base, ...(kind === 'changes' ? ['autosave_on_changes true'] : []), `autosave_interval ${n}`].join('\n')
}

/** The stack's own setting in the same notation. */
const stackSetting = ((): Setting => {
  const lines = stackPersistence('/x')
  const n = /^autosave_interval (\d+)/m.exec(lines)?.[1] ?? '?'
  return /^autosave_on_changes true/m.test(lines) ? `changes:${n}` : `seconds:${n}`
})()

async function measure (setting: Setting, scenario: Scenario, roundNo: number): Promise<Sample> {
  const dir = mkdtempSync(join(tmpdir(), 'f2-bench-mqtt-'))
  const broker = await startPrivateMosquitto({ open: true, persistence: persistenceFor(setting, dir) })
  const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: 'bench-sub', clean: false, reconnectPeriod: 0, properties: { sessionExpiryInterval: 3600 } })
  let delivered = 0
  sub.on('message', () => { delivered++ })
  await sub.subscribeAsync('bench/#', { qos: 1 })
  if (scenario === 'backlog') await sub.endAsync()
  const pubs = await Promise.all(Array.from({ length: publishers }, (_, i) => mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `bench-pub-${i}`, clean: true, reconnectPeriod: 0 })))
  const payload: string = JSON.stringify({ timestamp: '2026-01-01 00:00:00.000000', data: '0A EA 13 92 01 A4' })
  const cpu0 = readProc(broker.pid)?.cpuSeconds ?? 0
  const t0 = performance.now()
  let acked = 0
  // Each publisher (a controller) keeps `window` messages in flight on its own connection.
  await Promise.all(pubs.map((pub, i) => new Promise<void>(resolve => {
    let inFlight = 0
    const pump = (): void => {
      if (performance.now() - t0 >= seconds * 1000) { if (inFlight === 0) resolve(); return }
      while (inFlight < window) {
        inFlight++
        void pub.publishAsync(`bench/${i}`, payload, { qos: 1 }).then(() => { acked++; inFlight--; pump() })
      }
    }
    pump()
  })))
  const elapsed = (performance.now() - t0) / 1000
  const cpu = (readProc(broker.pid)?.cpuSeconds ?? 0) - cpu0
  await Promise.all(pubs.map(p => p.endAsync()))
  await sub.endAsync(true).catch(() => {})
  await broker.stop()
  rmSync(dir, { recursive: true, force: true })
  return { setting, scenario, round: roundNo, acked, perSecond: round(acked / elapsed), cpuMsPer1000: round(cpu * 1000 / Math.max(1, acked) * 1000, 1), queuedAtEnd: scenario === 'backlog' ? acked : acked - delivered }
}

const machine = await machineInfo()
const samples: Sample[] = []
for (let r = 1; r <= rounds; r++) {
  for (const scenario of ['connected', 'backlog'] as const) {
    for (const setting of r % 2 === 1 ? settings : [...settings].reverse()) {
      const s = await measure(setting, scenario, r)
      process.stderr.write(`[broker] ${JSON.stringify(s)}\n`)
      samples.push(s)
    }
  }
}
const mean = (setting: Setting, scenario: Scenario, key: 'perSecond' | 'cpuMsPer1000'): number => {
  const xs = samples.filter(s => s.setting === setting && s.scenario === scenario).map(s => s[key])
  return xs.reduce((t, x) => t + x, 0) / xs.length
}
const summary = Object.fromEntries(settings.map(setting => [setting, Object.fromEntries((['connected', 'backlog'] as const).map(sc => [sc, {
  perSecond: round(mean(setting, sc, 'perSecond')),
  throughputRatio: round(mean(setting, sc, 'perSecond') / mean(BASELINE, sc, 'perSecond'), 3),
  cpuRatio: round(mean(setting, sc, 'cpuMsPer1000') / mean(BASELINE, sc, 'cpuMsPer1000'), 2)
}]))]))
const command = `npm run bench:durability -- ${process.argv.slice(2).join(' ')}`.trim()
writeFile(join(ROOT, 'results', 'broker-durability.json'), `${JSON.stringify({ summary, stackSetting, machine, command, seconds, rounds, samples }, null, 2)}\n`)
const cell = (setting: Setting, sc: Scenario): string => {
  const x = summary[setting]?.[sc]
  return x === undefined ? '' : `${x.perSecond} msg/s (× ${x.throughputRatio}; CPU × ${x.cpuRatio})`
}
writeFile(join(ROOT, 'results', 'broker-durability.md'), [
  '# Broker durability: what each persistence setting costs',
  '',
  `Command: \`${command}\` (${rounds} alternated round(s) of ${seconds} s per setting and scenario, ${publishers} publishers × ${window} in flight, private brokers; ratios against \`${BASELINE}\`, the former setting).`,
  '',
  `Machine: ${machineLine(machine)}`,
  '',
  `\`changes:N\` = \`autosave_on_changes true\` + \`autosave_interval N\`; \`seconds:N\` = a save every N s. The stack runs \`${stackSetting}\`.`,
  '',
  table(['setting', 'connected (subscriber keeps up)', 'backlog (subscriber offline)'],
    settings.map(s => [`${s}${s === stackSetting ? ' (stack)' : ''}`, cell(s, 'connected'), cell(s, 'backlog')])),
  '',
  table(['round', 'setting', 'scenario', 'acknowledged', 'msg/s', 'broker CPU ms / 1 000 msg', 'queued at end'],
    samples.map(s => [s.round, s.setting, s.scenario, s.acked, s.perSecond, s.cpuMsPer1000, s.queuedAtEnd])),
  ''
].join('\n'))
process.stdout.write(`${JSON.stringify(summary)}\n`)
