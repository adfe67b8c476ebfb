import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ALL_FAULTS, type FaultName, type FaultOptions, type FaultResult } from './faults.ts'
import { machineLine, type MachineInfo } from './machine.ts'
import { table, writeFile } from './report.ts'
import { ROOT } from './stack.ts'

export interface FaultsReportInput {
  name: string
  short: boolean
  /** Keep the earlier report's rows of faults not run now (a run with --only). */
  merge: boolean
  faults: readonly FaultName[]
  command: string
  machine: MachineInfo
  options: FaultOptions
  results: FaultResult[]
}

/** Writes results/<name>.{json,md}; returns the per-fault summary. */
export function writeFaultsReport (o: FaultsReportInput): Record<string, unknown> {
  const { name, short, faults, command, machine, options, results } = o
  type Row = FaultResult & { run?: { command: string, rate: number, machine: string } }
  const here = { command, rate: options.rate, machine: machineLine(machine) }
  const fresh: Row[] = results.map(r => ({ ...r, run: here }))
  let rows: Row[] = fresh
  if (o.merge) {
    try {
      const earlier = JSON.parse(readFileSync(join(ROOT, 'results', `${name}.json`), 'utf8')) as { command: string, machine: Parameters<typeof machineLine>[0], options: { rate: number }, results: Row[] }
      const kept = earlier.results.filter(r => !faults.includes(r.fault)).map(r => ({ ...r, run: r.run ?? { command: earlier.command, rate: earlier.options.rate, machine: machineLine(earlier.machine) } }))
      rows = ALL_FAULTS.flatMap(f => [...kept, ...fresh].filter(r => r.fault === f))
    } catch { /* no earlier report */ }
  }
  const summary = Object.fromEntries(rows.map(r => [r.fault, { sent: r.sent, landed: r.landed, deadLettered: r.deadLettered, lost: r.lost + r.partial, duplicated: r.duplicatedRows + r.duplicateDeadLetters, recoverySeconds: r.recoverySeconds, passed: r.passed }]))
  const runs = [...new Map(rows.map(r => [JSON.stringify(r.run), r.run])).values()]
  writeFile(join(ROOT, 'results', `${name}.json`), `${JSON.stringify({ summary, machine, command, options: { ...options, log: undefined }, results: rows }, null, 2)}\n`)
  writeFile(join(ROOT, 'results', `${name}.md`), [
    `# Fault suite${short ? ' (short form)' : ''}`,
    '',
    ...(runs.length <= 1 ? [`Command: \`${command}\``, '', `Machine: ${machineLine(machine)}`] : ['Rows from several runs (newest per fault):', '', ...runs.map((r, i) => `${i + 1}. \`${r?.command}\` (${r?.rate} messages/s) — ${r?.machine}`)]),
    '',
    `Steady load ${runs.length <= 1 ? `${options.rate} messages/s` : 'as in the row\'s run'} (simulator mix, ${options.devices} controllers, 1 % unregistered → expected dead letters); fault injected after ${runs.length <= 1 ? `${options.beforeS} s` : '--before s'}, load continues ${runs.length <= 1 ? `${options.afterS} s` : '--after s'} after the fault ends; then drain and account for every message acknowledged by the broker. Recovery: from the injection until every later message lands within the latency bound (max(2 s, 3 × p99 before the fault)). Redelivered: records carried twice through Kafka (raw / decoded topic) that the sink's primary key absorbed.`,
    '',
    table(['fault', 'sent', 'landed', 'dead-lettered', 'lost', 'duplicated rows / DLs', 'redelivered raw / decoded / DLs', 'fault lasted', 'recovery', 'max latency', 'result'],
      rows.map(r => [`${r.fault}: ${r.description}${runs.length <= 1 ? '' : ` (run ${runs.findIndex(x => JSON.stringify(x) === JSON.stringify(r.run)) + 1})`}`, r.sent, r.landed, r.deadLettered, r.lost + r.partial, `${r.duplicatedRows} / ${r.duplicateDeadLetters}`, `${r.redelivered.raw} / ${r.redelivered.decoded} / ${r.redelivered.deadLetters ?? 0}`, `${r.faultSeconds} s`, `${r.recoverySeconds} s`, `${r.maxLatencyS} s`, r.passed ? 'pass' : '**FAIL**'])),
    ''
  ].join('\n'))
  return summary
}
