import { randomUUID } from 'node:crypto'
import { Consumer, FetchIsolationLevels, MessagesStreamModes, Producer, stringDeserializers, stringSerializers } from '@platformatic/kafka'
import mqtt from 'mqtt'
import postgres from 'postgres'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTempDatabase, createTempTopics, stackEnv, uniqueName, uniqueTopicName, type TempTopics } from '../../harness/stack.ts'
import { auth } from '../../harness/mqtt-account.ts'

/** Proves each real part of the stack works with the clients the project uses. */
const env = stackEnv()

async function consumeValues (topic: string, count: number, isolationLevel: number = FetchIsolationLevels.READ_UNCOMMITTED): Promise<string[]> {
  const consumer = new Consumer({
    groupId: uniqueName('smoke_group'),
    clientId: 'smoke-consumer',
    bootstrapBrokers: env.kafkaBootstrap.split(','),
    deserializers: stringDeserializers,
    isolationLevel
  })
  try {
    const stream = await consumer.consume({ topics: [topic], mode: MessagesStreamModes.EARLIEST, autocommit: false, maxWaitTime: 200 })
    const values: string[] = []
    for await (const message of stream) {
      values.push(message.value)
      if (values.length === count) break
    }
    await stream.close()
    return values
  } finally {
    await consumer.close(true)
  }
}

describe('Kafka (KRaft, single broker)', () => {
  let topics: TempTopics
  const plain = uniqueTopicName('smoke_plain')
  const transactional = uniqueTopicName('smoke_tx')

  beforeAll(async () => { topics = await createTempTopics([plain, transactional], 2) })
  afterAll(async () => { await topics?.delete() })

  it('round-trips messages through an idempotent producer and a consumer group', async () => {
    const producer = new Producer({ clientId: 'smoke-producer', bootstrapBrokers: env.kafkaBootstrap.split(','), serializers: stringSerializers, idempotent: true })
    const sent = ['one', 'two', 'three'].map(v => `${v}-${randomUUID()}`)
    try {
      // One key, so all three land on one partition and keep their order.
      await producer.send({ messages: sent.map(value => ({ topic: plain, key: 'k', value })) })
    } finally {
      await producer.close()
    }
    expect(await consumeValues(plain, 3)).toEqual(sent)
  })

  it('commits a transaction that a read-committed consumer then sees', async () => {
    const producer = new Producer({
      clientId: 'smoke-tx-producer',
      bootstrapBrokers: env.kafkaBootstrap.split(','),
      serializers: stringSerializers,
      idempotent: true,
      transactionalId: uniqueName('smoke_tx_id')
    })
    const value = `tx-${randomUUID()}`
    try {
      const tx = await producer.beginTransaction()
      await tx.send({ messages: [{ topic: transactional, key: 'k', value }] })
      await tx.commit()
    } finally {
      await producer.close()
    }
    expect(await consumeValues(transactional, 1, FetchIsolationLevels.READ_COMMITTED)).toEqual([value])
  })
})

describe('Mosquitto (MQTT v5)', () => {
  it('delivers a QoS 1 message to a subscriber', async () => {
    const topic = `smoke/${uniqueName('t')}`
    const payload = JSON.stringify({ id: randomUUID() })
    const sub = await mqtt.connectAsync(env.mqttUrl, { protocolVersion: 5, clientId: uniqueName('smoke_sub'), reconnectPeriod: 0, ...auth() })
    const pub = await mqtt.connectAsync(env.mqttUrl, { protocolVersion: 5, clientId: uniqueName('smoke_pub'), reconnectPeriod: 0, ...auth() })
    try {
      const granted = await sub.subscribeAsync(topic, { qos: 1 })
      expect(granted[0]?.qos).toBe(1)
      const received = new Promise<{ payload: string, qos: number }>(resolve => {
        sub.on('message', (t, buf, packet) => { if (t === topic) resolve({ payload: buf.toString(), qos: packet.qos }) })
      })
      // For QoS 1, publishAsync settles only once the broker's PUBACK has arrived.
      const sentPacket = await pub.publishAsync(topic, payload, { qos: 1 })
      expect(sentPacket?.messageId).toBeTypeOf('number')
      expect(await received).toEqual({ payload, qos: 1 })
    } finally {
      await Promise.all([sub.endAsync(), pub.endAsync()])
    }
  })
})

describe.each([
  ['registry', env.registryUrl, 'device_params'],
  ['timeseries', env.timeseriesUrl, 'timeseries']
] as const)('PostgreSQL %s', (kind, url, database) => {
  it('answers a query on the stack database', async () => {
    const sql = postgres(url, { max: 1 })
    try {
      const [row] = await sql<{ db: string, version: string }[]>`select current_database() as db, current_setting('server_version') as version`
      expect(row?.db).toBe(database)
      expect(row?.version).toMatch(/^15\./)
    } finally {
      await sql.end()
    }
  })

  it('creates, uses and drops a temporary database', async () => {
    const temp = await createTempDatabase(kind)
    const sql = postgres(temp.url, { max: 1, onnotice: () => {} })
    try {
      await sql`create table t (id int primary key, note text)`
      await sql`insert into t values (1, 'hello')`
      expect(await sql`select note from t`).toEqual([{ note: 'hello' }])
    } finally {
      await sql.end()
      await temp.drop()
    }
    const check = postgres(url, { max: 1 })
    try {
      expect(await check`select 1 from pg_database where datname = ${temp.name}`).toHaveLength(0)
    } finally {
      await check.end()
    }
  })
})

describe('Prometheus', () => {
  it('scrapes the infrastructure exporters', async () => {
    const wanted = ['prometheus', 'kafka', 'node', 'postgres-registry', 'postgres-timeseries']
    let health: Record<string, string> = {}
    // Each target is scraped once per interval (15 s); a fresh Prometheus needs up to one interval.
    const until = Date.now() + 45_000
    while (Date.now() < until) {
      const res = await fetch(`${env.prometheusUrl}/api/v1/targets?state=active`)
      expect(res.status).toBe(200)
      const body = await res.json() as { data: { activeTargets: { labels: { job: string }, health: string }[] } }
      health = Object.fromEntries(body.data.activeTargets.map(t => [t.labels.job, t.health]))
      if (wanted.every(job => health[job] === 'up')) break
      await new Promise(resolve => setTimeout(resolve, 1_000))
    }
    expect(Object.fromEntries(wanted.map(job => [job, health[job]]))).toEqual(Object.fromEntries(wanted.map(job => [job, 'up'])))
  }, 60_000)
})
