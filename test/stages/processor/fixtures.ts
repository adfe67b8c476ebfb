import { buildEnvelope, encodeEnvelope } from '../../../src/core/envelope.ts'
import type { SensorDefinition } from '../../../src/core/sensor.ts'
import type { SourceRecord } from '../../../src/stages/processor/transform.ts'

/** Shared by the processor's unit tests: the seed's sample sensor and raw records that carry a message. */
export const NOW = Date.UTC(2024, 0, 2, 3, 4, 5)

export const SENSOR_TOPIC = 'tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1'

export function dp (dataPointId: number, label: string, dataFormat: string, offset: number, decimals: number, append: string) {
  return { dataPointId, label, dataFormat, dataEncoding: null, offset, length: 2, prepend: null, append, wholeNumber: null, decimals }
}

/** The seed's "Living Room Env Sensor" on e4fd45f654be / J1 / pin 1. */
export const LIVING_ROOM: SensorDefinition = {
  controllerMac: 'e4fd45f654be',
  controllerDeviceId: 1,
  connectorNumber: 1,
  pinPosition: 1,
  sensorDeviceId: 4,
  sensorName: 'Living Room Env Sensor',
  templateName: 'Environmental Sensor',
  dataPoints: [dp(1, 'Temperature', 'Int16', 0, 2, ' °C'), dp(2, 'Humidity', 'Uint16', 2, 2, ' %'), dp(3, 'CO2', 'Uint16', 4, 0, ' ppm')]
}

/** A raw_iot_data record carrying `payload` as received on `topic`. */
export function record (topic: string, payload: unknown, offset = 7): SourceRecord {
  const bytes = Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload))
  const env = buildEnvelope({ topic, payload: bytes, receivedAtMs: NOW, qos: 1, retain: false })
  return { topic: 'raw', partition: 2, offset: BigInt(offset), key: Buffer.from('e4fd45f654be'), value: encodeEnvelope(env) }
}
