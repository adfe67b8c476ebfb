import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import postgres from 'postgres'
import { createLogger } from '../../../src/adapters/logger.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import { RegistryStore } from '../../../src/registry/store.ts'
import { migrate } from '../../../src/storage/migrate.ts'
import { loadProcessorConfig } from '../../../src/stages/processor/config.ts'
import { createProcessorMetrics } from '../../../src/stages/processor/metrics.ts'
import { ProcessorStage } from '../../../src/stages/processor/stage.ts'
import { createTempDatabase, createTempTopics, roleUrl, uniqueName, type TempDatabase, type TempTopics } from '../../../harness/stack.ts'
import { processorTestEnv } from '../../../harness/e2e-support.ts'

const logger = createLogger('processor-readiness-test', 'warn')

describe('processor readiness (real Kafka and registry)', () => {
  let db: TempDatabase
  let sql: postgres.Sql
  let topics: TempTopics
  let raw: string, decoded: string, activity: string, dead: string

  beforeAll(async () => {
    db = await createTempDatabase('registry')
    sql = postgres(db.url, { max: 2, onnotice: () => {} })
    await migrate(sql, 'registry')
    raw = uniqueName('raw'); decoded = uniqueName('decoded'); activity = uniqueName('activity'); dead = uniqueName('dead')
    topics = await createTempTopics([raw, decoded, activity, dead], 1)
  })

  afterAll(async () => {
    await sql?.end()
    await db?.drop()
    await topics?.delete()
  })

  it('is ready while idle: consumer joined, producer answered, registry reachable, before any batch', async () => {
    const config = loadProcessorConfig(processorTestEnv({ raw, decoded, activity, dead }, uniqueName('ready-g'), uniqueName('ready'), db.name))
    const metrics = createProcessorMetrics(createRegistry('processor-readiness'))
    const processorSql = postgres(roleUrl('registry', 'processor', db.name), { max: 2, onnotice: () => {} })
    const store = new RegistryStore(processorSql, {})
    const stage = new ProcessorStage({ config, logger, metrics, resolver: store })
    try {
      expect(stage.readiness().checks.kafka_producer).toBe(false)
      await stage.start()
      const until = Date.now() + 15_000
      while (!stage.readiness().ready && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 100))
      expect(stage.readiness()).toEqual({ ready: true, checks: { kafka_consumer: true, kafka_producer: true, registry: true } })
      // Nothing was read: readiness did not come from a written batch.
      expect((await metrics.consumed.get()).values.reduce((s, v) => s + v.value, 0)).toBe(0)
    } finally {
      await stage.stop(5000)
      await store.close()
      await processorSql.end()
    }
  })
})
