import type { DataPointDef } from '../../../src/core/datapoint.ts'
import type { SensorDefinition } from '../../../src/core/sensor.ts'

/** The seed's sample registry (device-registry.md), as the registry store returns it. */
export function dp (dataPointId: number, label: string, dataFormat: string, offset: number, length: number, decimals: number | null, unit: string | null, extra: Partial<DataPointDef> = {}): DataPointDef {
  return { dataPointId, label, dataFormat, dataEncoding: null, offset, length, prepend: null, append: unit === null ? null : ` ${unit}`, wholeNumber: null, decimals, ...extra }
}

export const ENV_POINTS: DataPointDef[] = [
  dp(1, 'Temperature', 'Int16', 0, 2, 2, '°C'),
  dp(2, 'Humidity', 'Uint16', 2, 2, 2, '%'),
  dp(3, 'CO2', 'Uint16', 4, 2, 0, 'ppm')
]

export const POWER_POINTS: DataPointDef[] = [
  dp(4, 'Voltage', 'Uint16', 0, 2, 1, 'V'),
  dp(5, 'Current', 'Int16', 2, 2, 3, 'A')
]

export const LIVING_ROOM: SensorDefinition = {
  controllerMac: 'e4fd45f654be', controllerDeviceId: 1, connectorNumber: 1, pinPosition: 1,
  sensorDeviceId: 4, sensorName: 'Living Room Env Sensor', templateName: 'Environmental Sensor', dataPoints: ENV_POINTS
}

export const KITCHEN: SensorDefinition = {
  controllerMac: 'abc123def456', controllerDeviceId: 2, connectorNumber: 2, pinPosition: 2,
  sensorDeviceId: 5, sensorName: 'Kitchen Power Monitor', templateName: 'Power Monitor', dataPoints: POWER_POINTS
}

export const BEDROOM: SensorDefinition = {
  controllerMac: '123456abcdef', controllerDeviceId: 3, connectorNumber: 4, pinPosition: 3,
  sensorDeviceId: 6, sensorName: 'Bedroom Env Sensor', templateName: 'Environmental Sensor', dataPoints: ENV_POINTS
}
