/**
 * Fault suite against the live stack, each fault under steady load:
 *
 *   npm run faults -- [--only kill-sink,restart-kafka] [--rate 1000] [--before 10] [--after 20]
 *                     [--pause 60] [--short]
 *
 * Faults: SIGKILL of the connector, the processor and the sink; the sink paused 60 s (SIGSTOP);
 * scale-out (two of each service, one of each SIGKILLed at once); Kafka restarted; the
 * time-series PostgreSQL restarted; Mosquitto restarted (SIGTERM) and killed (SIGKILL).
 * The infrastructure restarts act on the shared stack (other users of it see the outage); the
 * suite waits until each component is back. Reports per fault: sent, landed, dead-lettered,
 * lost, duplicated, recovery time → results/faults.{json,md} (results/faults-short.* with --short).
 * Exit 1 when any fault loses or duplicates a message.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ALL_FAULTS, PRIVATE_FAULTS, runFault, type FaultName, type FaultResult } from './lib/faults.ts'
import { ensureStack } from './lib/ensure-stack.ts'
import { machineInfo, machineLine } from './lib/machine.ts'
import { table, writeFile } from './lib/report.ts'
import { ROOT } from './lib/stack.ts'

const { values: a } = parseArgs({
  options: {
    only: { type: 'string' },
    rate: { type: 'string', default: '1000' },
    before: { type: 'string', default: '10' },
    after: { type: 'string', default: '20' },
    pause: { type: 'string', default: '60' },
    devices: { type: 'string', default: '50' },
    short: { type: 'boolean', default: false }
  }
})
const short = a.short === true
const faults = (a.only === undefined ? (short ? PRIVATE_FAULTS : ALL_FAULTS) : a.only.split(',')) as FaultName[]
for (const f of faults) if (!ALL_FAULTS.includes(f)) throw new Error(`unknown fault ${f}; known: ${ALL_FAULTS.join(', ')}`)
const options = {
  rate: Number(a.rate), devices: Number(a.devices), beforeS: Number(a.before), afterS: Number(a.after),
  pauseS: short ? 10 : Number(a.pause), unknownFraction: 0.01, drainTimeoutS: 180,
  log: (s: string) => process.stderr.write(`[faults] ${s}\n`)
}
ensureStack()
const machine = await machineInfo()
const results: FaultResult[] = []
for (const f of faults) results.push(await runFault(f, options))
const name = short ? 'faults-short' : 'faults'
const summary = Object.fromEntries(results.map(r => [r.fault, { sent: r.sent, landed: r.landed, deadLettered: r.deadLettered, lost: r.lost + r.partial, duplicated: r.duplicatedRows + r.duplicateDeadLetters, recoverySeconds: r.recoverySeconds, passed: r.passed }]))
const command = `npm run faults -- ${process.argv.slice(2).join(' ')}`.trim()
writeFile(join(ROOT, 'results', `${name}.json`), `${JSON.stringify({ summary, machine, command, options: { ...options, log: undefined }, results }, null, 2)}\n`)
writeFile(join(ROOT, 'results', `${name}.md`), [
  `# Fault suite${short ? ' (short form)' : ''}`,
  '',
  `Command: \`${command}\``,
  '',
  `Machine: ${machineLine(machine)}`,
  '',
  `Steady load ${options.rate} messages/s (simulator mix, ${options.devices} controllers, 1 % unregistered → expected dead letters); fault injected after ${options.beforeS} s, load continues ${options.afterS} s after the fault ends; then drain and account for every message acknowledged by the broker. Recovery: from the injection until every later message lands within the latency bound (max(2 s, 3 × p99 before the fault)). Redelivered: records carried twice through Kafka (raw / decoded topic) that the sink's primary key absorbed.`,
  '',
  table(['fault', 'sent', 'landed', 'dead-lettered', 'lost', 'duplicated rows / DLs', 'redelivered raw / decoded', 'fault lasted', 'recovery', 'max latency', 'result'],
    results.map(r => [`${r.fault}: ${r.description}`, r.sent, r.landed, r.deadLettered, r.lost + r.partial, `${r.duplicatedRows} / ${r.duplicateDeadLetters}`, `${r.redelivered.raw} / ${r.redelivered.decoded}`, `${r.faultSeconds} s`, `${r.recoverySeconds} s`, `${r.maxLatencyS} s`, r.passed ? 'pass' : '**FAIL**'])),
  ''
].join('\n'))
process.stdout.write(`${JSON.stringify(summary)}\n`)
process.exitCode = results.every(r => r.passed) ? 0 : 1
