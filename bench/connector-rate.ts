/**
 * Forwarding rate of one connector instance (QoS 1, PUBACK after Kafka acks=all) on this machine.
 *
 *   npm run bench:connector -- [--messages 50000] [--size 200] [--devices 100]
 *
 * The backlog is queued in the broker first (the connector's persistent session holds it), so
 * the measurement is the connector draining MQTT into Kafka, not the speed of a publisher.
 * Uses the stack's Mosquitto and Kafka (MQTT_BROKER/MQTT_PORT, KAFKA_BOOTSTRAP_SERVERS) and a
 * temporary Kafka topic that is deleted afterwards. Prints one JSON line.
 */
import { randomUUID } from 'node:crypto'
import { parseArgs } from 'node:util'
import { Admin } from '@platformatic/kafka'
import { createLogger } from '../src/adapters/logger.ts'
import { createRegistry } from '../src/adapters/metrics.ts'
import { createMqttClient } from '../src/adapters/mqtt.ts'
import { loadConnectorConfig } from '../src/stages/connector/config.ts'
import { connectorMetrics } from '../src/stages/connector/metrics.ts'
import { ConnectorStage } from '../src/stages/connector/stage.ts'
import { testAccount } from '../harness/broker.ts'
import { stackBroker } from './lib/stack.ts'
import { stackEnv } from '../harness/stack.ts'

const { values } = parseArgs({ options: { messages: { type: 'string', default: '50000' }, size: { type: 'string', default: '200' }, devices: { type: 'string', default: '100' } } })
const total = Number(values.messages)
const devices = Number(values.devices)
const run = randomUUID().slice(0, 8)
const { mqttUrl, kafkaBootstrap: bootstrap } = stackEnv()
const topic = `bench-raw-${run}`
const macs = Array.from({ length: devices }, (_, i) => `be${run.slice(0, 4)}${i.toString(16).padStart(6, '0')}`)
// The connector with its own account; the backlog is published by a throw-away account that
// may publish on tele/ (the benchmark measures the connector, not the controllers' accounts).
const accounts = stackBroker()
const publisher = await testAccount({ admin: { url: mqttUrl, ...accounts.admin } }, { publish: ['tele/#'] })
const env = {
  MQTT_BROKER: mqttUrl, MQTT_USERNAME: accounts.connector.username, MQTT_PASSWORD: accounts.connector.password, KAFKA_BOOTSTRAP_SERVERS: bootstrap, KAFKA_TOPIC: topic, KAFKA_DEAD_LETTER_TOPIC: topic,
  MQTT_TOPICS: `tele/+/sensor-mode/J9/#`, MQTT_SHARE_GROUP: `bench-${run}`, CONNECTOR_CLIENT_ID: `bench-${run}`, HTTP_PORT: '0',
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('KAFKA_') || k.startsWith('CONNECTOR_BATCH_') || k.startsWith('MQTT_RECEIVE')))
} as Record<string, string>
env.KAFKA_TOPIC = topic
env.KAFKA_DEAD_LETTER_TOPIC = topic

const admin = new Admin({ clientId: 'bench', bootstrapBrokers: bootstrap.split(',') })
await admin.createTopics({ topics: [topic], partitions: 3, replicas: 1 })
const logger = createLogger('connector', 'warn')
const config = loadConnectorConfig(env)
const newStage = (): ConnectorStage => new ConnectorStage({ config, logger, metrics: connectorMetrics(createRegistry('connector')) })

try {
  // 1. Create the persistent session and its subscription, then go away.
  let stage = newStage()
  await stage.start()
  await stage.stop(5000)

  // 2. Queue the backlog in the broker.
  const pub = createMqttClient({ url: mqttUrl, clientId: `bench-pub-${run}`, username: publisher.username, password: publisher.password })
  await pub.waitConnected()
  const filler = 'x'.repeat(Math.max(0, Number(values.size) - 60))
  let inFlight: Array<Promise<void>> = []
  for (let i = 0; i < total; i++) {
    const mac = macs[i % devices] as string
    inFlight.push(pub.publish(`tele/f2-${mac}/sensor-mode/J9/sensor-1`, `{"timestamp":"2026-01-01 00:00:00.000000","seq":${i},"f":"${filler}"}`, { qos: 1 }))
    if (inFlight.length >= 500) { await Promise.all(inFlight); inFlight = [] }
  }
  await Promise.all(inFlight)
  await pub.close()

  // 3. Drain it and time that.
  stage = newStage()
  const started = performance.now()
  await stage.start()
  while (stage.stats().forwarded < total) await new Promise(resolve => setTimeout(resolve, 20))
  const seconds = (performance.now() - started) / 1000
  await stage.stop(5000)
  process.stdout.write(JSON.stringify({
    messages: total, payloadBytes: Number(values.size), devices, qos: 1, instances: 1,
    batchSize: config.batchSize, lingerMs: config.lingerMs, receiveMaximum: config.receiveMaximum, compression: config.compression,
    seconds: Number(seconds.toFixed(3)), messagesPerSecond: Math.round(total / seconds)
  }) + '\n')
} finally {
  await admin.deleteTopics({ topics: [topic] }).catch(() => {})
  await admin.close()
  await publisher.remove().catch(() => {})
}
