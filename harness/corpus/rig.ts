import { join } from 'node:path'
import { Consumer } from '@platformatic/kafka'
import { createMqttClient, type MqttHandle } from '../../src/adapters/mqtt.ts'
import { testAccount } from '../broker.ts'
import { Pipeline, type PipelineOptions } from '../pipeline.ts'
import { startPrivateMosquitto } from '../private-mosquitto.ts'

/** What a corpus run drives: a private pipeline, a publisher on it, and a reader of its dead letters. */
export interface CorpusRig {
  pipeline: Pipeline
  publisher: MqttHandle
  /** Reads the dead-letter topic `read_committed`, in its own group; not yet consuming. */
  deadLetters: Consumer<Buffer, Buffer, Buffer, Buffer>
  /** Closes the clients, tears the pipeline down and stops the broker; safe after a failure. */
  close: () => Promise<void>
}

/**
 * A private pipeline (`name`: its topics, databases, log directory) behind a private broker.
 * The corpora publish on any topic, malformed ones included: one account publishes anywhere and
 * the connector subscribes to everything with another (the controllers' rules are tested in
 * test/broker/). The connector subscribes to `#`; `env` adds each run's settings.
 */
export async function startCorpusRig (name: string, env: NonNullable<PipelineOptions['env']>): Promise<CorpusRig> {
  const broker = await startPrivateMosquitto()
  const anyTopic = await testAccount(broker, { publish: ['#'], subscribe: ['#', '$share/#'] })
  const pipeline = new Pipeline({
    devices: 0,
    seed: 1,
    broker: { mqttUrl: broker.url, mqttTlsUrl: broker.mqttsPasswordUrl, caFile: broker.pki.caCert, admin: broker.admin, connector: anyTopic },
    logDir: join('/tmp', `f2-${name}-${process.pid}`),
    env: { ...env, connector: { MQTT_TOPICS: '#', ...env.connector } }
  }, name)
  const deadLetters = new Consumer({
    clientId: `f2-${name}-dead`, bootstrapBrokers: pipeline.urls.kafka.split(','), groupId: `${pipeline.id}-reader`,
    autocommit: false, isolationLevel: 1, maxWaitTime: 100, sessionTimeout: 10_000, heartbeatInterval: 1000
  })
  const publisher = createMqttClient({ url: broker.url, clientId: `${pipeline.id}-pub`, username: anyTopic.username, password: anyTopic.password })
  return {
    pipeline,
    publisher,
    deadLetters,
    async close () {
      await publisher.close(true).catch(() => {})
      await deadLetters.close(true).catch(() => {})
      await pipeline.tearDown()
      await broker.stop()
    }
  }
}
