import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import type { z } from 'zod'
import { DEFAULT_SERVICES, schema as healthSchema } from '../../src/stages/health/config.ts'
import { composeModel, containerPorts, publishedPorts, MAIN_FILE, MONITORING_FILE, readYaml, ROOT, type ComposeService } from './compose.ts'

/**
 * One port per service everywhere: the service's own default (the native stack), compose,
 * the Prometheus scrape targets (compose and native), the health monitor's defaults and the
 * image's healthcheck.
 */
const STAGES = ['simulator', 'connector', 'processor', 'sink', 'fleet', 'dispatcher'] as const

interface PromConfig {
  scrape_configs: Array<{ job_name: string, static_configs?: Array<{ targets: string[] }> }>
  alerting?: { alertmanagers: Array<{ static_configs: Array<{ targets: string[] }> }> }
}

const promTargets = (file: string): Map<string, string[]> => {
  const config = readYaml(file) as PromConfig
  return new Map(config.scrape_configs.map(job => [job.job_name, (job.static_configs ?? []).flatMap(s => s.targets)]))
}

async function defaultPort (command: string, key: string): Promise<number> {
  const mod = await import(join(ROOT, 'src', 'stages', command, 'config.ts')) as { schema: z.ZodObject }
  return mod.schema.shape[key]?.parse(undefined) as number
}

const services = (): Record<string, ComposeService> => ({ ...composeModel(MAIN_FILE).services, ...composeModel(MONITORING_FILE).services })
const envOf = (name: string): Record<string, string | null> => services()[name]?.environment ?? {}

describe('ports agree', { timeout: 30_000 }, () => {
  it.each(STAGES)('%s: native default, compose, Prometheus (both variants), health monitor and healthcheck', async stage => {
    const port = await defaultPort(stage, 'HTTP_PORT')
    expect(port).toBeGreaterThan(0)
    expect(envOf(stage).HTTP_PORT).toBe(String(port))
    expect(containerPorts(services()[stage] as ComposeService)).toContain(port)
    expect(promTargets('monitoring/prometheus/prometheus.yml').get(stage)).toEqual([`${stage}:${port}`])
    expect(promTargets('monitoring/prometheus/prometheus.native.yml').get(stage)).toEqual([`127.0.0.1:${port}`])
    expect(DEFAULT_SERVICES.split(',')).toContain(`${stage}=http://127.0.0.1:${port}`)
    expect(String(envOf('health').HEALTH_SERVICES).split(',')).toContain(`${stage}=http://${stage}:${port}`)
    const { DEFAULT_PORTS } = await import(join(ROOT, 'deploy', 'healthcheck.mjs')) as { DEFAULT_PORTS: Record<string, number> }
    expect(DEFAULT_PORTS[stage]).toBe(port)
  })

  it('health monitor: native default, compose, published port, Prometheus and healthcheck', async () => {
    const port = healthSchema.shape.HEALTH_PORT.parse(undefined)
    expect(envOf('health').HEALTH_PORT).toBe(String(port))
    expect(publishedPorts(services().health as ComposeService).map(p => [p.published, p.target])).toEqual([[port, port]])
    expect(promTargets('monitoring/prometheus/prometheus.yml').get('health')).toEqual([`health:${port}`])
    expect(promTargets('monitoring/prometheus/prometheus.native.yml').get('health')).toEqual([`127.0.0.1:${port}`])
    const { DEFAULT_PORTS } = await import(join(ROOT, 'deploy', 'healthcheck.mjs')) as { DEFAULT_PORTS: Record<string, number> }
    expect(DEFAULT_PORTS.health).toBe(port)
  })

  it('read API: native default, compose (published on the host\'s loopback only), Prometheus, health monitor and healthcheck', async () => {
    const port = await defaultPort('api', 'HTTP_PORT')
    expect(port).toBe(8080)
    expect(envOf('api').HTTP_PORT).toBe(String(port))
    // compose 1.29 keeps the short syntax: host address, host port, container port
    expect((services().api?.ports as unknown[] | undefined)?.map(String)).toEqual([`127.0.0.1:${port}:${port}/tcp`])
    expect(promTargets('monitoring/prometheus/prometheus.yml').get('api')).toEqual([`api:${port}`])
    expect(promTargets('monitoring/prometheus/prometheus.native.yml').get('api')).toEqual([`127.0.0.1:${port}`])
    expect(DEFAULT_SERVICES.split(',')).toContain(`api=http://127.0.0.1:${port}`)
    expect(String(envOf('health').HEALTH_SERVICES).split(',')).toContain(`api=http://api:${port}`)
    const { DEFAULT_PORTS } = await import(join(ROOT, 'deploy', 'healthcheck.mjs')) as { DEFAULT_PORTS: Record<string, number> }
    expect(DEFAULT_PORTS.api).toBe(port)
  })

  it('the health monitor in compose probes exactly the native default services, by service name', () => {
    const native = DEFAULT_SERVICES.split(',').map(s => s.replace('http://127.0.0.1:', 'http://<host>:'))
    const compose = String(envOf('health').HEALTH_SERVICES).split(',').map(s => s.replace(/^([a-z]+)=http:\/\/\1:/, '$1=http://<host>:'))
    expect(compose).toEqual(native)
    expect(envOf('health').PROMETHEUS_URL).toBe(`http://prometheus:${containerPorts(services().prometheus as ComposeService)[0]}`)
  })

  it('every Prometheus target and the Alertmanager address is a compose service offering that port', () => {
    const config = readYaml('monitoring/prometheus/prometheus.yml') as PromConfig
    const targets = [
      ...config.scrape_configs.flatMap(job => (job.static_configs ?? []).flatMap(s => s.targets)),
      ...(config.alerting?.alertmanagers ?? []).flatMap(a => a.static_configs.flatMap(s => s.targets))
    ]
    expect(targets.length).toBeGreaterThan(10)
    for (const target of targets) {
      const [host = '', port = ''] = target.split(':')
      const service = services()[host]
      expect(service, `${target}: no compose service ${host}`).toBeDefined()
      expect(containerPorts(service as ComposeService), target).toContain(Number(port))
    }
  })

  it('exporters listen where they are exposed', () => {
    const kafka = envOf('kafka')
    const agentPort = /jmx_prometheus_javaagent\.jar=(\d+):/.exec(String(kafka.KAFKA_OPTS))?.[1]
    expect(containerPorts(services().kafka as ComposeService)).toContain(Number(agentPort))
    // The broker uses the same exporter rules as the native stack.
    expect(services().kafka?.volumes?.some(v => v.startsWith(`${join(ROOT, 'templates/kafka/jmx-exporter.yml')}:`))).toBe(true)
    for (const [name, service] of Object.entries(services())) {
      const listen = service.command?.find(arg => arg.startsWith('--web.listen-address='))
      if (listen !== undefined) expect(containerPorts(service), name).toContain(Number(listen.split(':').pop()))
    }
  })

  it('the host ports of the infrastructure are those of the native stack', () => {
    const published = (name: string): Array<[number, number]> => publishedPorts(services()[name] ?? {}).map(p => [p.published, p.target])
    // Controllers reach the broker over TLS only; the plain listener (services) stays on loopback.
    expect(published('mosquitto')).toEqual([[8883, 8883], [8884, 8884], [1883, 1883]])
    expect(publishedPorts(services().mosquitto ?? {}).find(p => p.target === 1883)?.hostIp).toBe('127.0.0.1')
    expect(published('kafka')).toEqual([[9092, 9092]])
    expect(published('postgres')).toEqual([[5432, 5432]])
    expect(published('timescaledb')).toEqual([[5433, 5432]])
    expect(published('prometheus')).toEqual([[9090, 9090]])
    expect(published('grafana')).toEqual([[3000, 3000]])
    expect(published('alertmanager')).toEqual([[9093, 9093]])
    // The stages publish nothing: several instances of one can run side by side.
    for (const stage of STAGES) expect(published(stage)).toEqual([])
  })
})
