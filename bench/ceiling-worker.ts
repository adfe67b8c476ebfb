/**
 * Producer side of the Kafka ceiling (bench/ceiling.ts), a separate process so producing and
 * consuming do not share one event loop. Produces the records in `file` (length-prefixed
 * values, keys = MACs) to `topic` with the pipeline's producer settings (idempotent, acks=all,
 * murmur2 partitioner), `batch` records per send and up to `inFlight` sends at once, then
 * prints `{ records, seconds }`.
 */
import { readFileSync } from 'node:fs'
import { buildRecord, createProducer, type KafkaRecord } from '../src/adapters/kafka.ts'

const [topic = '', file = '', brokers = '', batchArg = '500', inFlightArg = '4', repeatArg = '1'] = process.argv.slice(2)
if (topic === '' || file === '' || brokers === '') throw new Error('usage: ceiling-worker.ts <topic> <file> <bootstrap brokers> [batch] [in flight] [repeat]')
const lines = JSON.parse(readFileSync(file, 'utf8')) as Array<[string, string]>
const batch = Number(batchArg)
const inFlight = Number(inFlightArg)
const repeat = Number(repeatArg)
const records: KafkaRecord[] = lines.map(([k, v]) => buildRecord(topic, k, Buffer.from(v, 'utf8')))
const producer = createProducer({ clientId: 'f2-ceiling-producer', bootstrapBrokers: brokers.split(','), retries: 5 })
const started = performance.now()
let sent = 0
const running = new Set<Promise<unknown>>()
for (let r = 0; r < repeat; r++) {
  for (let i = 0; i < records.length; i += batch) {
    const p = producer.send({ messages: records.slice(i, i + batch) }).then(() => { sent += Math.min(batch, records.length - i); running.delete(p) })
    running.add(p)
    if (running.size >= inFlight) await Promise.race(running)
  }
}
await Promise.all(running)
const seconds = (performance.now() - started) / 1000
await producer.close()
process.stdout.write(`${JSON.stringify({ records: sent, seconds })}\n`)
