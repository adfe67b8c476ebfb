/**
 * Micro-benchmark of the per-row hot paths between Kafka and the database: the sink's fast
 * measurement parser (fastParseMeasurement, on JSON.parse output) and the COPY line encoder
 * (copyLine). CPU only, no servers.
 *
 *   node bench/measurement-hot-paths.ts [rows=20000] [rounds=15]
 */
import { performance } from 'node:perf_hooks'
import { fastParseMeasurement, type Measurement } from '../src/core/measurement.ts'
import { copyLine } from '../src/storage/copy-format.ts'
import { measurement } from '../harness/measurement.ts'

const rows = Number(process.argv[2] ?? 20_000)
const rounds = Number(process.argv[3] ?? 15)

const labels = ['Temperature', 'Humidity', 'CO2', 'door-sensor', 'scan']
const inputs: unknown[] = Array.from({ length: rows }, (_, i) => {
  const ts = new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString().replace('Z', '000Z')
  const text = i % 5 === 4
  return JSON.parse(JSON.stringify(measurement(i, {
    timestamp: ts, device_id: `e4fd45f6${String(i % 5000).padStart(4, '0')}`, connector_mode: 'sensor-mode',
    datapoint_label: labels[i % labels.length], pin_position: String((i % 6) + 1), value: text ? null : Math.round(Math.random() * 10000) / 100,
    unit: text ? '' : '°C', topic: `tele/f2-e4fd45f6${String(i % 5000).padStart(4, '0')}/sensor-mode/J1/sensor-1`, connector: (i % 5) + 1,
    value_text: text ? 'card\t0042' : null, sensor_device_id: text ? null : 4, datapoint_id: text ? null : 1, received_at: ts
  })))
})

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] as number
}

function measure (label: string, fn: () => number): void {
  const times: number[] = []
  let sink = 0
  for (let r = 0; r < rounds + 3; r++) {
    const t0 = performance.now()
    sink += fn()
    if (r >= 3) times.push(performance.now() - t0)
  }
  const ms = median(times)
  console.log(`${label.padEnd(22)} ${(ms * 1e6 / rows).toFixed(0).padStart(6)} ns/row  (median of ${rounds}, ${rows} rows, check ${sink})`)
}

const parsed = inputs.map(i => fastParseMeasurement(i) as Measurement)
if (parsed.some(p => p === undefined)) throw new Error('a benchmark row left the fast path')
measure('fastParseMeasurement', () => {
  let n = 0
  for (const i of inputs) if (fastParseMeasurement(i) !== undefined) n++
  return n
})
measure('copyLine', () => {
  let n = 0
  for (const m of parsed) n += copyLine(m).length
  return n
})
