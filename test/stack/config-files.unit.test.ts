import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { projectRoot, stackConfig } from '../../src/stack/config.ts'
import { KAFKA_MESSAGE_MAX_BYTES } from '../../src/adapters/kafka.ts'
import { newClusterId, renderServerProperties } from '../../src/stack/kafka.ts'
import { renderNativeConfig } from '../../src/stack/prometheus.ts'

const root = projectRoot()
const read = (...parts: string[]): string => readFileSync(join(root, ...parts), 'utf8')

/** job name → targets, from the simple layout our Prometheus configs use. */
function jobs (yaml: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  let job = ''
  for (const line of yaml.split('\n')) {
    const name = /^\s*- job_name:\s*(\S+)/.exec(line)
    if (name?.[1] !== undefined) { job = name[1]; out.set(job, []) }
    const targets = /targets:\s*\[(.*)\]/.exec(line)
    if (targets?.[1] !== undefined) out.get(job)?.push(...targets[1].split(',').map(t => t.trim().replace(/'/g, '')))
  }
  return out
}

describe('Prometheus configs', () => {
  const container = jobs(read('monitoring', 'prometheus', 'prometheus.yml'))
  const native = jobs(read('monitoring', 'prometheus', 'prometheus.native.yml'))

  // Containers only: the native stack runs no containers and no Alertmanager.
  const composeOnly = ['cadvisor', 'alertmanager']

  it('have the same jobs, scraping the same ports (apart from the compose-only ones)', () => {
    expect([...native.keys()]).toEqual([...container.keys()].filter(j => !composeOnly.includes(j)))
    for (const [job, targets] of native) {
      expect(container.has(job), job).toBe(true)
      expect(targets.map(t => t.split(':')[1]), job).toEqual(container.get(job)?.map(t => t.split(':')[1]))
    }
  })

  it('native targets are all on 127.0.0.1', () => {
    for (const targets of native.values()) for (const t of targets) expect(t).toMatch(/^127\.0\.0\.1:\d+$/)
  })

  it('scrape the infrastructure and every service port', () => {
    const ports = [...native.values()].flat().map(t => Number(t.split(':')[1])).sort((a, b) => a - b)
    expect(ports).toEqual([7071, 8000, 8080, 9090, 9100, 9187, 9188, 9401, 9402, 9403, 9404, 9405, 9406])
  })

  it('render with shifted ports and rule files resolved against the config directory', () => {
    const rendered = renderNativeConfig(read('monitoring', 'prometheus', 'prometheus.native.yml'), '/repo/monitoring/prometheus', 10_000)
    expect(rendered).toContain("targets: ['127.0.0.1:17071']")
    expect(rendered).not.toContain("'127.0.0.1:7071'")
    expect(rendered).toContain("- '/repo/monitoring/prometheus/rules/*.yml'")
  })
})

describe('Kafka server.properties', () => {
  const template = read('templates', 'kafka', 'server.properties')

  it('renders every placeholder', () => {
    const out = renderServerProperties(template, { KAFKA_PORT: 9092, CONTROLLER_PORT: 9093, DATA_DIR: '/d', KAFKA_PARTITIONS: 3 })
    expect(out).not.toMatch(/\$\{/)
    // Set explicitly: the stages check every record against this very value.
    expect(out.split('\n')).toContain(`message.max.bytes=${KAFKA_MESSAGE_MAX_BYTES}`)
    expect(out).toContain('listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093')
    expect(out).toContain('log.dirs=/d')
  })

  it('makes transactions and consumer groups work on a single broker', () => {
    for (const line of ['offsets.topic.replication.factor=1', 'transaction.state.log.replication.factor=1', 'transaction.state.log.min.isr=1', 'group.initial.rebalance.delay.ms=0', 'process.roles=broker,controller']) {
      expect(template.split('\n')).toContain(line)
    }
    expect(template).not.toMatch(/zookeeper/i)
  })

  it('rejects an unknown placeholder', () => {
    expect(() => renderServerProperties('x=${NOPE}', {})).toThrow(/NOPE/)
  })

  it('cluster ids are 22 URL-safe base64 characters (16 bytes)', () => {
    const id = newClusterId()
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
    expect(Buffer.from(id, 'base64url')).toHaveLength(16)
    expect(newClusterId()).not.toBe(id)
  })

  it('never starts a cluster id with "-", which the storage tool would take for an option', () => {
    // 0xf8 encodes as '-' first; the next draw does not.
    const draws = [Buffer.alloc(16, 0xf8), Buffer.alloc(16, 0x01)]
    let calls = 0
    const id = newClusterId(() => draws[calls++] as Buffer)
    expect(Buffer.alloc(16, 0xf8).toString('base64url')).toMatch(/^-/)
    expect(id).toBe(Buffer.alloc(16, 0x01).toString('base64url'))
    expect(calls).toBe(2)
    for (let i = 0; i < 2000; i++) expect(newClusterId()).not.toMatch(/^-/)
  })
})

describe('stack config', () => {
  it('uses the documented ports and reads partitions from KAFKA_PARTITIONS', () => {
    const cfg = stackConfig({})
    expect([cfg.mqttPort, cfg.kafkaPort, cfg.kafkaControllerPort, cfg.registry.port, cfg.timeseries.port, cfg.prometheusPort]).toEqual([1883, 9092, 9093, 5432, 5433, 9090])
    expect(cfg.kafkaPartitions).toBe(3)
    expect(stackConfig({ KAFKA_PARTITIONS: '6' }).kafkaPartitions).toBe(6)
  })

  it('shifts every port by F2_STACK_PORT_OFFSET', () => {
    const cfg = stackConfig({ F2_STACK_PORT_OFFSET: '10000' })
    expect([cfg.mqttPort, cfg.kafkaPort, cfg.registry.port, cfg.jmxExporterPort]).toEqual([11883, 19092, 15432, 17071])
  })

  it('reports invalid sizing with F2_CONFIG_INVALID', () => {
    expect(() => stackConfig({ KAFKA_PARTITIONS: '0' })).toThrow(expect.objectContaining({ code: 'F2_CONFIG_INVALID' }))
  })
})
