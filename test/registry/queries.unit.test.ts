import { describe, expect, it } from 'vitest'
import { sensorFromRows, type SensorRow } from '../../src/registry/queries.ts'

const base: SensorRow = {
  controller_id: 1, controller_name: 'c', pin_id: 10, sensor_id: 4, sensor_name: 's', template_id: 2, template_name: 'Env',
  datapoint_id: 1, label: 'Temperature', data_format: 'Int16', data_encoding: null, byte_offset: 0, byte_length: 2,
  prepend: null, append: ' °C', whole_number: false, decimals: 2
}

describe('sensorFromRows', () => {
  it('tells the failures apart', () => {
    expect(sensorFromRows('aa', 1, 1, [])).toMatchObject({ ok: false, error: { code: 'F2_REGISTRY_UNKNOWN_CONTROLLER' } })
    const unwired = sensorFromRows('aa', 1, 1, [{ ...base, pin_id: null, sensor_id: null, template_id: null, datapoint_id: null }])
    expect(unwired).toMatchObject({ ok: false, error: { code: 'F2_REGISTRY_UNWIRED_PIN', details: { controllerDeviceId: 1 } } })
    const none = sensorFromRows('aa', 1, 1, [{ ...base, datapoint_id: null, label: null }])
    expect(none).toMatchObject({ ok: false, error: { code: 'F2_REGISTRY_NO_DATAPOINTS' } })
    const noTemplate = sensorFromRows('aa', 1, 1, [{ ...base, template_id: null, template_name: null, datapoint_id: null }])
    expect(noTemplate).toMatchObject({ ok: false, error: { code: 'F2_REGISTRY_NO_DATAPOINTS' } })
  })

  it('keeps only the first wired pin of duplicated registry rows', () => {
    const r = sensorFromRows('aa', 1, 2, [
      base, { ...base, datapoint_id: 2, label: 'Humidity', byte_offset: 2 },
      { ...base, pin_id: 11, sensor_id: 5, datapoint_id: 9, label: 'Other' }
    ])
    expect(r.ok && r.value).toEqual({
      controllerMac: 'aa', controllerDeviceId: 1, connectorNumber: 1, pinPosition: 2, sensorDeviceId: 4, sensorName: 's', templateName: 'Env',
      dataPoints: [
        { dataPointId: 1, label: 'Temperature', dataFormat: 'Int16', dataEncoding: null, offset: 0, length: 2, prepend: null, append: ' °C', wholeNumber: false, decimals: 2 },
        { dataPointId: 2, label: 'Humidity', dataFormat: 'Int16', dataEncoding: null, offset: 2, length: 2, prepend: null, append: ' °C', wholeNumber: false, decimals: 2 }
      ]
    })
  })
})
