import { describe, expect, it } from 'vitest'
import { RECORD_OVERHEAD_BYTES, type KafkaRecord } from '../../../src/adapters/kafka.ts'
import { decodeActivities } from '../../../src/core/activity.ts'
import { ErrorCodes } from '../../../src/core/errors.ts'
import type { Measurement } from '../../../src/core/measurement.ts'
import { fail, ok, type Result } from '../../../src/core/result.ts'
import type { SensorDefinition } from '../../../src/core/sensor.ts'
import { createProcessorMetrics, type ProcessorMetrics } from '../../../src/stages/processor/metrics.ts'
import { ACTIVITY_RECORD_BYTES, buildOutputs, type OutputContext } from '../../../src/stages/processor/records.ts'
import { prepare, sensorKey } from '../../../src/stages/processor/transform.ts'
import { LIVING_ROOM, NOW, record, SENSOR_TOPIC } from './fixtures.ts'

const READING = { timestamp: '2023-05-26 18:34:04.928538', data: '0AEA139201A4' }
const KEY = sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 1 })
const CONFIG = { outputTopic: 'decoded', deadLetterTopic: 'dead', activityTopic: null, zone: 'UTC' }

function context (metrics: ProcessorMetrics, maxRecordBytes = 1024 * 1024, activityTopic: string | null = null): OutputContext {
  return { config: { ...CONFIG, activityTopic }, metrics, nowMs: NOW, limits: { maxRecordBytes } }
}

function reason (r: KafkaRecord | undefined): string | undefined {
  return (r?.headers as Record<string, Buffer> | undefined)?.reason?.toString()
}

async function count (metrics: ProcessorMetrics, name: 'produced' | 'deadLetters' | 'presence'): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const v of (await metrics[name].get()).values) out[Object.values(v.labels).join(',')] = v.value
  return out
}

describe('processor record building', () => {
  it('keys measurements by controller on the output topic and dead letters with their reason header, counting each', async () => {
    const metrics = createProcessorMetrics()
    const prepared = [
      record(SENSOR_TOPIC, READING, 1),
      record('tele/f2-e4fd45f654be/sensor-mode/J1/sensor-2', READING, 2),
      record('tele/f2-e4fd45f654be/LWT', 'offline', 3)
    ].map(prepare)
    const sensors = new Map<string, Result<SensorDefinition>>([
      [KEY, ok(LIVING_ROOM)],
      [sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 2 }), fail(ErrorCodes.REGISTRY_UNWIRED_PIN, 'no sensor on pin 2')]
    ])
    const { records, origins } = buildOutputs(prepared, sensors, new Map([[KEY, 0.001]]), context(metrics))
    expect(records.map(r => r.topic)).toEqual(['decoded', 'decoded', 'decoded', 'dead'])
    for (const r of records) expect(r.key?.toString()).toBe('e4fd45f654be')
    expect(records.slice(0, 3).map(r => (JSON.parse((r.value as Buffer).toString()) as { datapoint_label: string }).datapoint_label)).toEqual(['Temperature', 'Humidity', 'CO2'])
    expect(reason(records[3])).toBe(ErrorCodes.REGISTRY_UNWIRED_PIN)
    // Each record points back to its message (for isolating a record the broker refuses).
    expect(origins).toEqual([prepared[0], prepared[0], prepared[0], prepared[1]])
    expect(await count(metrics, 'produced')).toEqual({ sensor: 3 })
    expect(await count(metrics, 'deadLetters')).toEqual({ [ErrorCodes.REGISTRY_UNWIRED_PIN]: 1 })
    expect(await count(metrics, 'presence')).toEqual({ offline: 1 })
    // The lookup's time is part of each decode's latency.
    const latency = (await metrics.decodeLatency.get()).values.find(v => v.metricName === 'f2_processor_decode_latency_seconds_sum')
    expect(latency?.value).toBeGreaterThanOrEqual(0.001)
  })

  it('turns a measurement above the record limit into a dead letter and produces the rest', async () => {
    const metrics = createProcessorMetrics()
    const p = prepare(record(SENSOR_TOPIC, READING))
    const sizes = buildOutputs([p], new Map([[KEY, ok(LIVING_ROOM)]]), new Map(), context(createProcessorMetrics()))
      .records.map(r => (r.value as Buffer).length + (r.key as Buffer).length + RECORD_OVERHEAD_BYTES)
    // A limit between the smallest and the largest encoded measurement: only the largest is refused.
    const limit = Math.max(...sizes) - 1
    expect(Math.min(...sizes)).toBeLessThanOrEqual(limit)
    const { records } = buildOutputs([p], new Map([[KEY, ok(LIVING_ROOM)]]), new Map(), context(metrics, limit))
    const refused = sizes.filter(s => s > limit).length
    expect(refused).toBeGreaterThan(0)
    expect(records.filter(r => r.topic === 'decoded')).toHaveLength(3 - refused)
    expect(records.filter(r => r.topic === 'dead').map(reason)).toEqual(Array(refused).fill(ErrorCodes.RECORD_TOO_LARGE))
    expect(await count(metrics, 'deadLetters')).toEqual({ [ErrorCodes.RECORD_TOO_LARGE]: refused })
  })

  it('with an activity topic, the activity of every message that names a controller, gathered per raw partition in order: measurements, presence and undecodable messages included', () => {
    const prepared = [
      record(SENSOR_TOPIC, READING, 1),
      record('tele/f2-e4fd45f654be/sensor-mode/J1/sensor-2', READING, 2),
      { ...record('tele/f2-abc123def456/LWT', 'offline', 3), partition: 0 },
      record('tele/f2-e4fd45f654be/LWT', 'online', 4),
      record('elsewhere/entirely', READING, 5)
    ].map(prepare)
    const sensors = new Map<string, Result<SensorDefinition>>([
      [KEY, ok(LIVING_ROOM)],
      [sensorKey({ mac: 'e4fd45f654be', connector: 1, pin: 2 }), fail(ErrorCodes.REGISTRY_UNWIRED_PIN, 'no sensor on pin 2')]
    ])
    const { records, origins } = buildOutputs(prepared, sensors, new Map(), context(createProcessorMetrics(), 1024 * 1024, 'activity'))
    expect(records.map(r => r.topic)).toEqual(['decoded', 'decoded', 'decoded', 'dead', 'dead', 'activity', 'activity'])
    const activity = records.filter(r => r.topic === 'activity')
    // Keyed by the raw partition; each record points back to its first message.
    expect(activity.map(r => r.key?.toString())).toEqual(['2', '0'])
    expect(origins.slice(5)).toEqual([prepared[0], prepared[2]])
    const [first, second] = activity.map(r => decodeActivities(r.value as Buffer))
    expect(first?.invalid).toBe(0)
    expect(first?.activities.map(a => [a.device_id, a.mode, a.presence, a.rows, a.values.length]))
      .toEqual([['e4fd45f654be', 'sensor-mode', null, 3, 3], ['e4fd45f654be', 'sensor-mode', null, 0, 0], ['e4fd45f654be', null, 'online', 0, 0]])
    expect(second?.activities.map(a => [a.device_id, a.presence])).toEqual([['abc123def456', 'offline']])
    // The last values of the measurements written on the output topic.
    expect(first?.activities[0]?.values).toEqual(records.slice(0, 3).map(r => {
      const m = JSON.parse((r.value as Buffer).toString()) as Measurement
      return { connector: m.connector, connector_mode: m.connector_mode, datapoint_label: m.datapoint_label, pin_position: m.pin_position, value: m.value, value_text: m.value_text, unit: m.unit, timestamp: m.timestamp }
    }))
  })

  it('cuts a partition\'s activities into records under ACTIVITY_RECORD_BYTES, in order; an activity too large alone keeps its count and drops its values', () => {
    const many = Array.from({ length: 8000 }, (_, i) => prepare(record(SENSOR_TOPIC, READING, i)))
    const { records } = buildOutputs(many, new Map([[KEY, ok(LIVING_ROOM)]]), new Map(), context(createProcessorMetrics(), 1024 * 1024, 'activity'))
    const activity = records.filter(r => r.topic === 'activity')
    expect(activity.length).toBeGreaterThan(1)
    for (const r of activity) expect((r.value as Buffer).length).toBeLessThanOrEqual(ACTIVITY_RECORD_BYTES)
    expect(activity.flatMap(r => decodeActivities(r.value as Buffer)?.activities ?? []).map(a => a.rows)).toEqual(Array(8000).fill(3))

    // A record limit that takes each measurement but not one activity with all three values:
    // the values go, the count stays.
    const p = prepare(record(SENSOR_TOPIC, READING))
    const limit = Math.max(...buildOutputs([p], new Map([[KEY, ok(LIVING_ROOM)]]), new Map(), context(createProcessorMetrics()))
      .records.map(r => (r.value as Buffer).length + (r.key as Buffer).length + RECORD_OVERHEAD_BYTES))
    const { records: small } = buildOutputs([p], new Map([[KEY, ok(LIVING_ROOM)]]), new Map(), context(createProcessorMetrics(), limit, 'activity'))
    expect(small.map(r => r.topic)).toEqual(['decoded', 'decoded', 'decoded', 'activity'])
    expect(decodeActivities(small[3]?.value as Buffer)?.activities).toMatchObject([{ rows: 3, values: [] }])
  })
})
