import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stackPaths } from '../../src/stack/config.ts'
import { kafkaLibsDir } from '../../src/stack/provision.ts'
import { kafkaAdmin, stackEnv, uniqueTopicName } from '../../harness/stack.ts'
import { ROOT } from './compose.ts'

// deploy/kafka/create-topics.sh (compose's `kafka-init`) against the real broker of the stack.
// The apache/kafka image's kafka-topics.sh is `java … org.apache.kafka.tools.TopicCommand`;
// the same class from the stack's Kafka jars stands in for it here.
const SCRIPT = join(ROOT, 'deploy', 'kafka', 'create-topics.sh')
const topics = [uniqueTopicName('deploy-init-a'), uniqueTopicName('deploy-init-b')]
let dir: string
let cli: string

function createTopics (partitions: number): { status: number | null, out: string } {
  const r = spawnSync('bash', [SCRIPT, ...topics], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH, KAFKA_TOPICS_CLI: cli, KAFKA_BOOTSTRAP_SERVERS: stackEnv().kafkaBootstrap, KAFKA_PARTITIONS: String(partitions) }
  })
  return { status: r.status, out: `${r.stdout}${r.stderr}` }
}

async function partitionCounts (): Promise<number[]> {
  const admin = kafkaAdmin()
  try {
    const meta = await admin.metadata({ topics, forceUpdate: true })
    return topics.map(t => meta.topics.get(t)?.partitionsCount ?? 0)
  } finally {
    await admin.close()
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'f2-topics-'))
  cli = join(dir, 'kafka-topics.sh')
  writeFileSync(cli, `#!/bin/sh\nexec java -Xmx256m -cp '${kafkaLibsDir(stackPaths())}/*' org.apache.kafka.tools.TopicCommand "$@"\n`)
  chmodSync(cli, 0o755)
})

afterAll(async () => {
  const admin = kafkaAdmin()
  try {
    await admin.deleteTopics({ topics })
  } finally {
    await admin.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

describe('deploy/kafka/create-topics.sh', { timeout: 120_000 }, () => {
  it('creates missing topics, grows them, never shrinks them and can run again', async () => {
    const first = createTopics(2)
    expect(first.status, first.out).toBe(0)
    expect(await partitionCounts()).toEqual([2, 2])

    const again = createTopics(2)
    expect(again.status, again.out).toBe(0)
    expect(again.out).toContain(`${topics[0]} has 2 partitions`)

    const grown = createTopics(4)
    expect(grown.status, grown.out).toBe(0)
    expect(grown.out).toContain(`${topics[0]}: 2 -> 4 partitions`)
    expect(await partitionCounts()).toEqual([4, 4])

    const lower = createTopics(1)
    expect(lower.status, lower.out).toBe(0)
    expect(lower.out).toContain('cannot shrink')
    expect(await partitionCounts()).toEqual([4, 4])
  })
})
