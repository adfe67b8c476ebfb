import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type IConnackPacket } from 'mqtt'
import { afterEach, describe, expect, it } from 'vitest'
import { projectRoot } from '../../src/stack/config.ts'
import { stackBroker } from '../../harness/broker.ts'

/**
 * `npm run bench` end to end at a small scale against the real stack: the ceilings are
 * measured in the same sitting, the rate is stated as a ratio of each, CPU per message is
 * reported per process, every message is accounted for, one history line is appended
 * beside the reports' folder (not results/ here), and the run leaves no MQTT session behind.
 */
const root = projectRoot()
let dir: string | undefined
afterEach(() => { if (dir !== undefined) rmSync(dir, { recursive: true, force: true }) })

interface Summary {
  messagesPerSecond: number
  lost: number
  duplicateRows: number
  passed: boolean
  ceilingRatio: number
  ceilings: { copyMessagesPerSecond: number, sinkWriteMessagesPerSecond: number, source: string, measuredAt: string }
  ratios: { copy: number, sinkWritePath: number }
  cpuMicrosPerMessage: Record<string, number | null>
  cpuMicrosPerMessageTotal: { stages: number, pipeline: number }
}

describe('benchmark run', () => {
  it('measures its ceilings in the sitting, reports ratios and CPU per message, appends a history line, and ends its connector\'s session', async () => {
    dir = mkdtempSync(join(tmpdir(), 'f2-bench-test-'))
    const out = join(dir, 'bench')
    const run = spawnSync(process.execPath, [join(root, 'bench', 'run.ts'), '--rate', '200', '--devices', '10', '--duration', '12', '--warmup', '3',
      '--ceiling-seconds', '2', '--out', out, '--quiet'], { cwd: root, encoding: 'utf8', timeout: 240_000 })
    expect(run.status, run.stderr.slice(-3000)).toBe(0)
    const s = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as Summary
    expect(s.passed).toBe(true)
    expect(s.lost).toBe(0)
    expect(s.ceilings.source).toBe('measured')
    expect(Date.now() - Date.parse(s.ceilings.measuredAt)).toBeLessThan(5 * 60_000)
    expect(s.ceilings.copyMessagesPerSecond).toBeGreaterThan(s.messagesPerSecond)
    expect(s.ratios.copy).toBeCloseTo(s.messagesPerSecond / s.ceilings.copyMessagesPerSecond, 2)
    expect(s.ratios.sinkWritePath).toBeCloseTo(s.messagesPerSecond / s.ceilings.sinkWriteMessagesPerSecond, 2)
    expect(s.ceilingRatio).toBe(s.ratios.copy)
    for (const p of ['connector', 'processor', 'sink', 'kafka', 'mosquitto', 'postgres-timeseries']) expect(s.cpuMicrosPerMessage[p], p).toBeGreaterThan(0)
    expect(s.cpuMicrosPerMessageTotal.pipeline).toBeGreaterThan(s.cpuMicrosPerMessageTotal.stages)
    const history = readFileSync(join(dir, 'history.tsv'), 'utf8').trim().split('\n')
    expect(history).toHaveLength(2)
    expect(history[0]?.split('\t').slice(0, 6)).toEqual(['date', 'machine', 'command', 'label', 'messages_per_s', 'copy_ratio'])
    expect(history[1]?.split('\t')[3]).toBe('rate200')
    expect(Number(history[1]?.split('\t')[5])).toBe(s.ratios.copy)
    expect(readFileSync(join(out, 'rate200.md'), 'utf8')).toContain('ratio to the PostgreSQL COPY ceiling')

    // The connector's persistent session ended with the run: a later run on this broker does not feed it.
    const { runId } = JSON.parse(readFileSync(join(out, 'rate200.json'), 'utf8')) as { runId: string }
    const broker = stackBroker()
    const probe = mqtt.connect(broker.url, {
      protocolVersion: 5, clientId: `${runId}-connector`, clean: false, reconnectPeriod: 0,
      username: broker.connector.username, password: broker.connector.password, properties: { sessionExpiryInterval: 0 }
    })
    try {
      const connack = await new Promise<IConnackPacket>((resolve, reject) => { probe.once('connect', resolve); probe.once('error', reject) })
      expect(connack.sessionPresent).toBe(false)
    } finally {
      await probe.endAsync()
    }
  }, 300_000)
})
