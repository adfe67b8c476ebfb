import { describe, expect, it } from 'vitest'
import { parseHex } from '../../../src/core/hex.ts'
import { decodeSensorFrame } from '../../../src/core/sensor.ts'
import { parseTimestamp } from '../../../src/core/timestamp.ts'
import { parseTopic } from '../../../src/core/topic.ts'
import { handleCommand } from '../../../src/stages/simulator/commands.ts'
import { createDeviceState, nextMessage } from '../../../src/stages/simulator/device.ts'
import { createRng } from '../../../src/core/random.ts'
import { generateFleet } from '../../../src/stages/simulator/fleet.ts'

let t = 0
const stamp = (): string => `2026-01-01 00:00:${String(t++ % 60).padStart(2, '0')}.000001`

describe('simulated fleet', () => {
  it('is the same for the same seed and different for another', () => {
    expect(generateFleet(20, 7)).toEqual(generateFleet(20, 7))
    expect(generateFleet(20, 7)).not.toEqual(generateFleet(20, 8))
    expect(generateFleet(5, 7).every(c => /^f2f2[0-9a-f]{8}$/.test(c.mac))).toBe(true)
  })

  it('publishes valid topics, F2 timestamps, and sensor frames that decode to plausible, slowly drifting values', () => {
    const [controller] = generateFleet(1, 3)
    if (controller === undefined) throw new Error('no controller')
    const rng = createRng(3)
    const state = createDeviceState(controller, rng)
    const temps: number[] = []
    for (let i = 0; i < 2000; i++) {
      const m = nextMessage(state, rng, stamp)
      const topic = parseTopic(m.topic)
      expect(topic.ok).toBe(true)
      if (!topic.ok) continue
      expect(m.topic.startsWith(`${m.kind}/`)).toBe(true)
      const payload = JSON.parse(m.payload) as { timestamp: string, data?: string }
      expect(parseTimestamp(payload.timestamp, 'UTC').ok).toBe(true)
      if (topic.value.component !== 'sensor') continue
      const conn = controller.connectors.find(c => c.number === topic.value.connector)
      const sensor = conn?.sensors.find(s => s.pin === topic.value.position)
      if (sensor === undefined) throw new Error('unknown sensor')
      const bytes = parseHex(payload.data ?? '')
      if (!bytes.ok) throw new Error('bad hex')
      const frame = decodeSensorFrame(bytes.value, { controllerMac: controller.mac, controllerDeviceId: 1, connectorNumber: conn?.number ?? 0, pinPosition: sensor.pin, sensorDeviceId: 1, sensorName: 's', templateName: sensor.templateName, dataPoints: sensor.dataPoints })
      expect(frame.failures).toEqual([])
      for (const v of frame.values) {
        const q = sensor.quantities.find(x => x.label === v.def.label)
        expect(v.value).toBeGreaterThanOrEqual((q?.min ?? 0) - 0.01)
        expect(v.value).toBeLessThanOrEqual((q?.max ?? 0) + 0.01)
        if (v.def.label === 'Temperature' && conn?.number === 3 && sensor.pin === 1) temps.push(v.value)
      }
    }
    expect(temps.length).toBeGreaterThan(50)
    for (let i = 1; i < temps.length; i++) expect(Math.abs((temps[i] as number) - (temps[i - 1] as number))).toBeLessThan(0.2)
  })
})

describe('command handling', () => {
  const [controller] = generateFleet(1, 1)
  if (controller === undefined) throw new Error('no controller')
  const mac = controller.mac
  const state = createDeviceState(controller, createRng(1))

  it('switches and toggles a strike, reporting on stat/', () => {
    const topic = `cmnd/f2-${mac}/access-control-mode/J1/strike-1`
    const on = handleCommand(state, topic, '{"power-flag": 1}', stamp)
    expect(on.result).toBe('ok')
    expect(on.replies.map(r => [r.topic, JSON.parse(r.payload).status])).toEqual([[`stat/f2-${mac}/access-control-mode/J1/strike-1`, true]])
    const toggle = handleCommand(state, topic, '{"power-flag": 2, "period": 3}', stamp)
    expect(toggle.replies.map(r => JSON.parse(r.payload).status)).toEqual([false])
    expect(toggle.later?.afterMs).toBe(3000)
    expect(JSON.parse(toggle.later?.run().payload ?? '{}').status).toBe(true)
    expect(JSON.parse(handleCommand(state, topic, '', stamp).replies[0]?.payload ?? '{}').status).toBe(true)
    expect(handleCommand(state, topic, '{"power-flag": 2, "period": 256}', stamp).result).toBe('invalid')
    expect(handleCommand(state, topic, '{"power-flag": 5}', stamp).result).toBe('invalid')
    expect(handleCommand(state, topic, 'garbage', stamp).result).toBe('invalid')
  })

  it('obeys the siren and answers the reader LED command with a reader frame', () => {
    const siren = `cmnd/f2-${mac}/alarm-mode/J2/siren-1`
    expect(handleCommand(state, siren, '1', stamp).replies).toEqual([])
    expect(JSON.parse(handleCommand(state, siren, '', stamp).replies[0]?.payload ?? '{}').status).toBe(true)
    expect(handleCommand(state, siren, '7', stamp).result).toBe('invalid')
    const reader = handleCommand(state, `cmnd/f2-${mac}/access-control-mode/J1/reader-2/success`, '1', stamp)
    expect(reader.replies[0]?.topic).toBe(`tele/f2-${mac}/access-control-mode/J1/reader-2`)
    expect(JSON.parse(reader.replies[0]?.payload ?? '{}').data).toBe("b'\\x02\\x02\\x01\\x00\\x00\\x00\\x03\\x03'")
    expect(handleCommand(state, `cmnd/f2-${mac}/sensor-mode/J1/sensor-1`, '1', stamp).result).toBe('invalid')
  })
})
