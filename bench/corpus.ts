/**
 * The bad-input corpus through the whole pipeline, with a report:
 *
 *   npm run corpus                               → the hand-written items (harness/corpus/items.jsonl),
 *                                                  results/corpus.{json,md}
 *   npm run corpus -- --generated 100000 [--seed N] → that many seeded random messages
 *                                                  (harness/corpus/generated.ts), results/corpus-generated.{json,md}
 *
 * Exit 1 when an item or message does not end as expected or a service crashed. `npm test`
 * runs both (test/corpus/corpus.test.ts; generated.test.ts at 3 000 messages) without a report.
 */
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { runGenerated } from '../harness/corpus/generated-runner.ts'
import { loadItems, runCorpus, topicOf } from '../harness/corpus/runner.ts'
import { ensureStack } from './lib/ensure-stack.ts'
import { machineInfo, machineLine } from './lib/machine.ts'
import { table, writeFile } from './lib/report.ts'
import { ROOT } from './lib/stack.ts'

const { values: a } = parseArgs({ options: { generated: { type: 'string' }, seed: { type: 'string', default: '20261130' } } })
ensureStack()
const machine = await machineInfo()
if (a.generated !== undefined) {
  const count = Number(a.generated)
  const seed = Number(a.seed)
  const command = `npm run corpus -- --generated ${count} --seed ${seed}`
  const r = await runGenerated(count, seed, s => process.stderr.write(`[corpus] ${s}\n`))
  const passed = r.refused === 0 && r.unaccounted === 0 && r.rows.missing === 0 && r.rows.unexpected === 0 && r.deadLetters.missing === 0 && r.deadLetters.unexpected === 0 && r.servicesSurvived
  writeFile(join(ROOT, 'results', 'corpus-generated.json'), `${JSON.stringify({ passed, machine, command, report: r }, null, 2)}\n`)
  writeFile(join(ROOT, 'results', 'corpus-generated.md'), [
    '# Generated bad-input corpus',
    '',
    `Command: \`${command}\` (harness/corpus/generated.ts; \`npm test\` runs 3 000 messages of the same generator).`,
    '',
    `Machine: ${machineLine(machine)}`,
    '',
    `**${r.messages - r.unaccounted - r.refused} of ${r.messages} messages ended exactly as predicted** (rows and dead letters by stage and reason, predicted by the pipeline's pure parts); refused by the broker: ${r.refused}; services survived without a crash or restart and stopped cleanly: **${r.servicesSurvived ? 'yes' : 'no'}**. Published in ${r.publishSeconds} s; ${r.seconds} s in all.`,
    '',
    table(['', 'predicted', 'found', 'missing', 'not predicted'], [
      ['rows', r.rows.expected, r.rows.found, r.rows.missing, r.rows.unexpected],
      ['dead letters', r.deadLetters.expected, r.deadLetters.found, r.deadLetters.missing, r.deadLetters.unexpected]
    ]),
    '',
    table(['message kind', 'messages'], Object.entries(r.byKind).sort().map(([k, n]) => [k, n])),
    '',
    table(['stage: reason', 'predicted', 'found'], Object.entries(r.byReason).sort().map(([k, v]) => [k.replace('|', ': '), v.expected, v.found])),
    '',
    ...(r.examples.length === 0 ? [] : ['Failures (first ones):', '', ...r.examples.map(e => `- #${e.i} ${e.kind} \`${e.topic.replace(/`/g, "'")}\`: ${e.problem}`), '']),
  ].join('\n'))
  process.stdout.write(`${JSON.stringify({ passed, messages: r.messages, unaccounted: r.unaccounted, rows: r.rows, deadLetters: r.deadLetters, seconds: r.seconds })}\n`)
  process.exit(passed ? 0 : 1)
}
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
  `Command: \`npm run corpus\` (the same items run in \`npm test\`: test/corpus/corpus.test.ts). Items: harness/corpus/items.jsonl.`,
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
