/**
 * The bad-input corpus (test/corpus/items.jsonl) through the whole pipeline, with a report:
 *
 *   npm run corpus        → results/corpus.{json,md}; exit 1 when an item fails or a service crashed
 *
 * `npm test` runs the same corpus (test/corpus/corpus.test.ts) without writing the report.
 */
import { join } from 'node:path'
import { loadItems, runCorpus, topicOf } from '../test/corpus/runner.ts'
import { ensureStack } from './lib/ensure-stack.ts'
import { machineInfo, machineLine } from './lib/machine.ts'
import { table, writeFile } from './lib/report.ts'
import { ROOT } from './lib/stack.ts'

ensureStack()
const machine = await machineInfo()
const items = loadItems()
const report = await runCorpus(items, s => process.stderr.write(`[corpus] ${s}\n`))
const summary = { items: report.items, passed: report.passed, failed: report.failed.map(f => f.id), servicesSurvived: report.servicesSurvived, http: report.http, seconds: report.seconds }
writeFile(join(ROOT, 'results', 'corpus.json'), `${JSON.stringify({ summary, machine, command: 'npm run corpus', report }, null, 2)}\n`)
const outcome = (e: (typeof items)[number]['expect']): string => [
  ...(e.rows.length > 0 ? [`${e.rows.length} row(s): ${e.rows.map(r => `${r.label}=${r.valueText ?? r.value}`).join(', ')}`] : []),
  ...(e.deadLetter === undefined ? [] : [`dead letter ${e.deadLetter.reason} (${e.deadLetter.stage})`])
].join(' + ')
writeFile(join(ROOT, 'results', 'corpus.md'), [
  '# Bad-input corpus',
  '',
  `Command: \`npm run corpus\` (the same items run in \`npm test\`: test/corpus/corpus.test.ts). Items: test/corpus/items.jsonl.`,
  '',
  `Machine: ${machineLine(machine)}`,
  '',
  `**${report.passed} of ${report.items} items ended as expected**; services survived without a crash or restart and stopped cleanly: **${report.servicesSurvived ? 'yes' : 'no'}** (exit codes ${JSON.stringify(report.exitCodes)}). ${report.seconds} s.`,
  '',
  table(['item', 'topic', 'expected', 'result'], report.results.map(r => {
    const item = items.find(i => i.id === r.id)
    const topic = item === undefined ? '' : topicOf(item).replace(/\|/g, '\\|').replace(/`/g, "'")
    return [`${r.id}: ${r.description}`, `\`${topic.length > 70 ? `${topic.slice(0, 67)}...` : topic}\``, item === undefined ? '' : outcome(item.expect), r.passed ? 'ok' : `**FAIL** ${r.problem ?? ''}`]
  })),
  ''
].join('\n'))
process.stdout.write(`${JSON.stringify(summary)}\n`)
process.exitCode = report.failed.length === 0 && report.servicesSurvived && Object.values(report.http).every(p => p.length === 0) ? 0 : 1
