import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Admin } from '@platformatic/kafka'
import { createProducer, buildRecord } from '../../../src/adapters/kafka.ts'
import { startHttp, type HttpHandle } from '../../../src/adapters/http.ts'
import { createRegistry } from '../../../src/adapters/metrics.ts'
import type { LagReading } from '../../../src/adapters/kafka-lag.ts'
import { kafkaProbe } from '../../../src/stages/health/probes/kafka.ts'
import { mqttProbe } from '../../../src/stages/health/probes/mqtt.ts'
import { postgresProbe } from '../../../src/stages/health/probes/postgres.ts'
import { prometheusProbe, serviceProbe } from '../../../src/stages/health/probes/http.ts'
import { createTempTopics, stackEnv, uniqueName, uniqueTopicName, type TempTopics } from '../../../harness/stack.ts'
import { freePort } from './support.ts'
import { stackBroker } from '../../../harness/broker.ts'

const env = stackEnv()
const signal = (ms = 5000): AbortSignal => AbortSignal.timeout(ms)
const pg = (url: string) => {
  const u = new URL(url)
  return { host: u.hostname, port: Number(u.port), database: u.pathname.slice(1), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) }
}

describe('mqtt probe', () => {
  it('completes a publish/subscribe round trip through the broker', async () => {
    const u = new URL(env.mqttUrl)
    // As the health account: it may publish and subscribe under f2/health/ only.
    const details = await mqttProbe({ host: u.hostname, port: Number(u.port), ...stackBroker().health }).check(signal())
    expect(details.round_trip_ms).toBeTypeOf('number')
  })

  it('fails without an account, or with a wrong password', async () => {
    const u = new URL(env.mqttUrl)
    await expect(mqttProbe({ host: u.hostname, port: Number(u.port) }).check(signal())).rejects.toThrow(/Not authorized/i)
    await expect(mqttProbe({ host: u.hostname, port: Number(u.port), username: stackBroker().health.username, password: 'wrong' }).check(signal())).rejects.toThrow(/Not authorized/i)
  })

  it('fails when nothing listens', async () => {
    await expect(mqttProbe({ host: '127.0.0.1', port: await freePort() }).check(signal())).rejects.toThrow()
  })
})

describe('kafka probe', () => {
  let topics: TempTopics
  const group = uniqueName('f2_health_group')
  beforeAll(async () => {
    topics = await createTempTopics([uniqueTopicName('f2_health_lag')], 2)
  })
  afterAll(async () => { await topics.delete() })

  it('reports metadata and the lag of a consumer group', async () => {
    const topic = topics.names[0] as string
    const producer = createProducer({ clientId: 'f2-health-test', bootstrapBrokers: env.kafkaBootstrap.split(',') })
    try {
      // Explicit partitions: 4 records on partition 0, 3 on partition 1.
      await producer.send({ messages: [0, 0, 0, 0, 1, 1, 1].map(p => ({ ...buildRecord(topic, null, Buffer.from('x')), partition: p })) })
    } finally {
      await producer.close()
    }
    const admin = new Admin({ clientId: 'f2-health-test', bootstrapBrokers: env.kafkaBootstrap.split(',') })
    try {
      // The group has consumed 1 record of partition 0 and nothing of partition 1.
      await admin.alterConsumerGroupOffsets({ groupId: group, topics: [{ name: topic, partitionOffsets: [{ partition: 0, offset: 1n }] }] })
    } finally {
      await admin.close()
    }
    const readings: LagReading[] = []
    const probe = kafkaProbe({ brokers: env.kafkaBootstrap.split(','), lag: [{ group, topic }, { group, topic: 'f2_no_such_topic' }], timeoutMs: 5000, onLag: r => readings.push(r) })
    try {
      const details = await probe.check(signal(10_000))
      expect((details.brokers as string[]).length).toBeGreaterThan(0)
      expect(details.topics).toContain(topic)
      expect(details.missing_topics).toEqual(['f2_no_such_topic'])
      expect(readings).toEqual([{ group, topic, lag: 3 + 3, committedPartitions: 1, partitions: 2 }])
    } finally {
      await probe.close?.()
    }
  })

  it('fails when no broker answers', async () => {
    const probe = kafkaProbe({ brokers: [`127.0.0.1:${await freePort()}`], lag: [], timeoutMs: 1000 })
    await expect(probe.check(signal(3000))).rejects.toThrow()
    await probe.close?.()
  })
})

describe('postgres probe', () => {
  it('queries both databases; the time-series one reports recent rows when the table exists', async () => {
    for (const [name, url] of [['registry-db', env.registryUrl], ['timeseries-db', env.timeseriesUrl]] as const) {
      const probe = postgresProbe({ name, db: pg(url), timeoutMs: 3000, measurements: name === 'timeseries-db' })
      try {
        const details = await probe.check(signal())
        expect(details.version).toMatch(/^\d+/)
        expect(details.size_bytes).toBeGreaterThan(0)
      } finally {
        await probe.close?.()
      }
    }
  })

  it('fails when the server is not there', async () => {
    const probe = postgresProbe({ name: 'x', db: { ...pg(env.timeseriesUrl), port: await freePort() }, timeoutMs: 1000 })
    await expect(probe.check(signal())).rejects.toThrow()
    await probe.close?.()
  })
})

describe('http probes', () => {
  let ready = true
  let http: HttpHandle
  beforeAll(async () => {
    http = await startHttp({ host: '127.0.0.1', port: 0, registry: createRegistry('fake'), readiness: () => ({ ready, checks: { kafka: ready } }) })
  })
  afterAll(async () => { await http.close() })

  it('follows a service /readyz', async () => {
    const probe = serviceProbe({ name: 'svc', url: `http://127.0.0.1:${http.port}` })
    ready = true
    expect(await probe.check(signal())).toMatchObject({ checks: { kafka: true } })
    ready = false
    await expect(probe.check(signal())).rejects.toThrow(/503/)
  })

  it('reports a service that is not running as down, not as a crash', async () => {
    const probe = serviceProbe({ name: 'gone', url: `http://127.0.0.1:${await freePort()}` })
    await expect(probe.check(signal())).rejects.toThrow()
  })

  it('checks Prometheus readiness and counts its targets', async () => {
    const details = await prometheusProbe({ url: env.prometheusUrl }).check(signal())
    expect(details.targets_total).toBeGreaterThan(0)
  })
})
