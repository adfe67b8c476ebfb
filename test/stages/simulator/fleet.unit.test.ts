import { describe, expect, it } from 'vitest'
import type { DataPointDef } from '../../../src/core/datapoint.ts'
import { BUILTIN_TEMPLATES, fleetFromRegistry, generateFleet, unsimulatable, usableTemplates, type SensorTemplate } from '../../../src/stages/simulator/fleet.ts'

const dp = (label: string, dataFormat: string, offset: number, length: number, dataEncoding: string | null = null): DataPointDef =>
  ({ dataPointId: 1, label, dataFormat, dataEncoding, offset, length, prepend: null, append: null, wholeNumber: null, decimals: 1 })
const env = BUILTIN_TEMPLATES[0] as SensorTemplate
const meter: SensorTemplate = { name: 'Meter', dataPoints: [dp('Voltage', 'Float32', 0, 4, 'modbus-rtu'), dp('Energy', 'Uint32', 4, 4, 'modbus-rtu')] }

describe('registry fleet', () => {
  it('puts wired connectors in sensor mode and gives the first two free ones access control and alarm', () => {
    const { fleet, skipped } = fleetFromRegistry([
      { mac: 'aa0000000001', name: 'one', connectors: [{ number: 2, pins: [{ position: 1, template: env }, { position: 3, template: meter }] }] },
      { mac: 'aa0000000002', name: null, connectors: [] },
      { mac: 'aa0000000003', name: 'three', connectors: [{ number: 1, pins: [{ position: 1, template: env }] }, { number: 3, pins: [{ position: 2, template: env }] }, { number: 4, pins: [] }] }
    ])
    expect(skipped).toEqual([])
    expect(fleet.map(c => c.connectors.map(cn => [cn.number, cn.mode, cn.sensors.map(s => s.pin)]))).toEqual([
      [[1, 'access-control-mode', []], [2, 'sensor-mode', [1, 3]], [3, 'alarm-mode', []]],
      [[1, 'access-control-mode', []], [2, 'alarm-mode', []]],
      [[1, 'sensor-mode', [1]], [2, 'access-control-mode', []], [3, 'sensor-mode', [2]], [4, 'alarm-mode', []]]
    ])
    expect(fleet[1]?.name).toBe('F2 Controller aa0000000002')
    expect(fleet[0]?.connectors[1]?.sensors[1]?.quantities.map(q => q.label)).toEqual(['Voltage', 'Energy'])
  })

  it('leaves out sensors that cannot be framed so that they decode, saying why', () => {
    const dup: SensorTemplate = { name: 'Dup', dataPoints: [dp('T', 'Int16', 0, 2), dp('T', 'Int16', 2, 2)] }
    const odd: SensorTemplate = { name: 'Odd', dataPoints: [dp('T', 'Int24', 0, 3)] }
    const { fleet, skipped } = fleetFromRegistry([{
      mac: 'aa0000000009',
      name: 'x',
      connectors: [
        { number: 1, pins: [{ position: 1, template: dup }, { position: 2, template: odd }, { position: 3, template: null }, { position: 7, template: env }, { position: 4, template: { name: 'Empty', dataPoints: [] } }] },
        { number: 5, pins: [{ position: 1, template: env }] }
      ]
    }])
    expect(skipped.map(s => [s.connector, s.pin])).toEqual([[1, 1], [1, 2], [1, 3], [1, 7], [1, 4], [5, 1]])
    expect(skipped[0]?.reason).toContain('F2_DATAPOINT_DEFINITION_INVALID')
    // J1 stays a sensor connector (it has sensors wired), without publishers.
    expect(fleet[0]?.connectors.map(c => [c.number, c.mode, c.sensors.length])).toEqual([[1, 'sensor-mode', 0], [2, 'access-control-mode', 0], [3, 'alarm-mode', 0]])
  })
})

describe('generated fleet', () => {
  it('uses only the given templates, deterministically', () => {
    const templates = usableTemplates([{ name: 'F2 Controller', dataPoints: [] }, env, meter, { name: 'Meter', dataPoints: [] }, { name: 'Bad', dataPoints: [dp('x', 'Int16', 0, 4)] }], 'F2 Controller')
    expect(templates.map(t => t.name)).toEqual(['Environmental Sensor', 'Meter'])
    const fleet = generateFleet(200, 5, templates)
    expect(fleet).toEqual(generateFleet(200, 5, templates))
    const used = new Set(fleet.flatMap(c => c.connectors.flatMap(cn => cn.sensors.map(s => s.templateName))))
    expect([...used].sort()).toEqual(['Environmental Sensor', 'Meter'])
    expect(new Set(fleet.map(c => c.mac)).size).toBe(200)
    expect(fleet.every(c => c.mac.startsWith('f2f205'))).toBe(true)
  })

  it('cannot be generated without templates', () => {
    expect(() => generateFleet(1, 1, [])).toThrow(/no sensor templates/)
    expect(unsimulatable(env.dataPoints)).toBeNull()
  })
})
