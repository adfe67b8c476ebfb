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
 * With --only, the rows of the faults run replace theirs in the latest report and the others
 * stay, each row with the command, load and machine it ran with (one report, newest per fault).
 * Exit 1 when any fault loses or duplicates a message.
 */
import { parseArgs } from 'node:util'
import { ALL_FAULTS, PRIVATE_FAULTS, runFault, type FaultName, type FaultResult } from './lib/faults.ts'
import { ensureStack } from './lib/ensure-stack.ts'
import { writeFaultsReport } from './lib/faults-report.ts'
import { machineInfo } from './lib/machine.ts'

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
const command = `npm run faults -- ${process.argv.slice(2).join(' ')}`.trim()
const summary = writeFaultsReport({ name, short, merge: a.only !== undefined, faults, command, machine, options, results })
process.stdout.write(`${JSON.stringify(summary)}\n`)
process.exitCode = results.every(r => r.passed) ? 0 : 1
