import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createMqttClient, type MqttHandle } from '../../../src/adapters/mqtt.ts'
import { decodeEnvelope } from '../../../src/core/envelope.ts'
import { connectorEnv, startConnector, type TestConnector } from './harness.ts'
import { filtersFor, readRecords, testMacs } from '../../../harness/kafka.ts'
import { createTempTopics, stackEnv, uniqueName } from '../../../harness/stack.ts'
import { privateKafka, type PrivateKafka } from './private-kafka.ts'
import { auth } from '../../../harness/mqtt-account.ts'
import { waitFor } from '../../../harness/wait.ts'

// A broker of our own: stopping the shared one would disturb every other test.
const port = Number(process.env.PRIVATE_KAFKA_PORT ?? 39092)
const kafka: PrivateKafka = privateKafka(port, port + 1)
const macs = testMacs(3)
let connector: TestConnector
let publisher: MqttHandle

beforeAll(async () => {
  await kafka.start()
  // A freshly started broker may refuse CreateTopics for a moment while its controller settles.
  await waitFor('topics created', async () => createTempTopics(['raw_iot_data', 'iot_dead_letter'], 3, kafka.bootstrap).then(() => true, () => false), 60_000)
  connector = await startConnector(connectorEnv({
    topic: 'raw_iot_data', deadLetterTopic: 'iot_dead_letter', filters: filtersFor(macs), clientId: uniqueName('outage'), group: uniqueName('g'), bootstrap: kafka.bootstrap,
    extra: { KAFKA_REQUEST_TIMEOUT_MS: '1000', MQTT_RECEIVE_MAXIMUM: '200' }
  }))
  publisher = createMqttClient({ url: stackEnv().mqttUrl, ...auth(), clientId: uniqueName('pub') })
  await publisher.waitConnected()
}, 120_000)

afterAll(async () => {
  await publisher?.close()
  await connector?.stop()
  await kafka.destroy()
}, 30_000)

describe('connector during a Kafka outage', () => {
  it('withholds acknowledgements while Kafka is down for 15 s and loses nothing', async () => {
    const perPhase = 300
    let seq = 0
    const publishPhase = async (): Promise<void> => {
      const sends: Array<Promise<void>> = []
      for (let i = 0; i < perPhase; i++, seq++) {
        sends.push(publisher.publish(`tele/f2-${macs[seq % macs.length]}/sensor-mode/J1/sensor-1`, JSON.stringify({ seq }), { qos: 1 }))
      }
      await Promise.all(sends)
    }
    await publishPhase()
    await waitFor('first phase forwarded', () => connector.stage.stats().forwarded >= perPhase)

    await kafka.kill()
    const downAt = Date.now()
    await publishPhase()
    await waitFor('not ready while Kafka is down', () => !connector.stage.readiness().ready, 15_000)
    // In flight is bounded by the receive maximum; the broker holds the rest.
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect(connector.stage.stats().inFlight).toBeLessThanOrEqual(200)
    expect(connector.stage.stats().forwarded).toBe(perPhase)
    await publishPhase()
    await new Promise(resolve => setTimeout(resolve, Math.max(0, 15_000 - (Date.now() - downAt))))

    await kafka.start()
    await waitFor('everything forwarded after Kafka returned', () => connector.stage.stats().forwarded >= 3 * perPhase, 60_000)
    await waitFor('ready again', () => connector.stage.readiness().ready, 15_000)
    const records = await readRecords('raw_iot_data', 3 * perPhase, { bootstrap: kafka.bootstrap, settleMs: 1500 })
    const seen = new Set(records.map(r => { const e = decodeEnvelope(r.value); if (!e.ok) throw new Error('bad'); return (e.value.payload as { seq: number }).seq }))
    expect(seen.size).toBe(3 * perPhase)
    expect(records.length - seen.size).toBeGreaterThanOrEqual(0)
  }, 120_000)
})
