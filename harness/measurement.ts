import type { Measurement } from '../src/core/measurement.ts'

/** Device time of `measurement(0)`: 2024-05-01T00:00:00Z. */
export const MEASUREMENT_T0 = Date.UTC(2024, 4, 1)

/** `ms` as a measurement's instant: ISO UTC with 6 fraction digits. */
export const measurementInstant = (ms: number): string => new Date(ms).toISOString().replace('Z', '000Z')

/**
 * A valid measurement with every field of the declaration (src/core/measurement-columns.ts):
 * a temperature reading of sensor 1 on J1 of controller e4fd45f654be, `i` seconds after
 * MEASUREMENT_T0, received at its device time. Tests set the fields they look at with
 * `overrides`; a field added to the declaration is given its value here, once, for every test.
 */
export function measurement (i = 0, overrides: Partial<Measurement> = {}): Measurement {
  const ts = measurementInstant(MEASUREMENT_T0 + i * 1000)
  return {
    timestamp: ts,
    device_id: 'e4fd45f654be',
    connector_mode: 'sensor-mode',
    datapoint_label: 'Temperature',
    pin_position: '1',
    value: 20 + (i % 100) / 4,
    unit: '°C',
    topic: 'tele/f2-e4fd45f654be/sensor-mode/J1/sensor-1',
    connector: 1,
    value_text: null,
    sensor_device_id: 4,
    datapoint_id: 1,
    received_at: ts,
    ...overrides
  }
}
