import { z } from 'zod'
import { env, loadConfig, type Env } from '../../adapters/config.ts'
import { kafkaFields, pickKafka } from '../../adapters/connections/kafka.ts'
import type { LagTarget } from '../../adapters/kafka-lag.ts'
import { mqttFields, pickMqtt } from '../../adapters/connections/mqtt.ts'
import { pickPostgres, postgresFields, type PostgresConnection } from '../../adapters/connections/postgres.ts'
import { STACK_HOST, STACK_PORTS } from '../../adapters/connections/stack-ports.ts'
import { DB_ROLES } from '../../storage/roles.ts'

/** A pipeline service the monitor probes on `<url>/readyz` and scrapes on `<url>/metrics`. */
export interface ServiceTarget { name: string, url: string }

export interface HealthConfig {
  host: string
  port: number
  intervalMs: number
  timeoutMs: number
  mqtt: { host: string, port: number, username?: string, password?: string }
  brokerLog: string | undefined
  kafka: { brokers: string[] }
  registry: PostgresConnection
  timeseries: PostgresConnection
  prometheusUrl: string
  services: ServiceTarget[]
  lag: LagTarget[]
  silenceMinutes: number
  /** Devices count as "known" when they sent anything within this many hours. */
  seenWindowHours: number
}

export const DEFAULT_SERVICES = 'simulator=http://127.0.0.1:9401,connector=http://127.0.0.1:9402,processor=http://127.0.0.1:9403,sink=http://127.0.0.1:9404,fleet=http://127.0.0.1:9405,dispatcher=http://127.0.0.1:9406,api=http://127.0.0.1:8080'
export const DEFAULT_LAG = 'iot-processor:raw_iot_data,iot-sink:decoded_iot_data,iot-fleet-state:device_activity'

// `name=url` pairs: compose sets `connector=http://connector:9402`, the native stack uses 127.0.0.1.
const servicesField = z.string().default(DEFAULT_SERVICES).transform((v, ctx) => {
  const out: ServiceTarget[] = []
  for (const item of v.split(',').map(s => s.trim()).filter(s => s.length > 0)) {
    const m = /^([a-z][a-z0-9_-]*)=(https?:\/\/[^\s]+?)\/?$/.exec(item)
    if (m === null) {
      ctx.addIssue({ code: 'custom', message: `expected name=http://host:port, got "${item}"` })
      return z.NEVER
    }
    out.push({ name: m[1] as string, url: m[2] as string })
  }
  return out
})

const lagField = z.string().default(DEFAULT_LAG).transform((v, ctx) => {
  const out: LagTarget[] = []
  for (const item of v.split(',').map(s => s.trim()).filter(s => s.length > 0)) {
    const m = /^([^:\s]+):([^:\s]+)$/.exec(item)
    if (m === null) {
      ctx.addIssue({ code: 'custom', message: `expected group:topic, got "${item}"` })
      return z.NEVER
    }
    out.push({ group: m[1] as string, topic: m[2] as string })
  }
  return out
})

export const schema = z.object({
  // Loopback unless asked: /api/status shows controllers' MACs and the newest readings.
  HEALTH_HOST: env.string('127.0.0.1'),
  HEALTH_PORT: env.int(8000, 0, 65535),
  HEALTH_PROBE_INTERVAL_MS: env.int(10_000, 200),
  HEALTH_PROBE_TIMEOUT_MS: env.int(3_000, 100),
  /** MQTT_USERNAME/PASSWORD: the health account (publishes and subscribes under f2/health/ only). */
  ...mqttFields,
  /** The broker's log (natively .stack/logs/mosquitto.log): refused connections and publishes are counted from it. */
  MQTT_LOG_FILE: z.string().optional(),
  ...kafkaFields,
  ...postgresFields('registry', DB_ROLES.registry.reader),
  ...postgresFields('timeseries', DB_ROLES.timeseries.reader),
  /** Unset: the native stack's Prometheus (with F2_STACK_PORT_OFFSET). */
  PROMETHEUS_URL: z.url().optional(),
  HEALTH_SERVICES: servicesField,
  HEALTH_LAG_GROUPS: lagField,
  DEVICE_SILENCE_MINUTES: env.int(5, 1),
  DEVICE_SEEN_WINDOW_HOURS: env.int(24, 1)
}).superRefine((v, ctx) => {
  // A probe that may outlive its interval would let cycles overlap.
  if (v.HEALTH_PROBE_TIMEOUT_MS >= v.HEALTH_PROBE_INTERVAL_MS) {
    ctx.addIssue({ code: 'custom', path: ['HEALTH_PROBE_TIMEOUT_MS'], message: 'must be below HEALTH_PROBE_INTERVAL_MS' })
  }
})

/**
 * The health monitor's settings, from the environment (seed names for the brokers and
 * databases; `HEALTH_*` for its own). Every address is configurable so the same monitor
 * works against 127.0.0.1 natively and against service names in compose.
 */
export function loadHealthConfig (source: Env = process.env): Readonly<HealthConfig> {
  const v = loadConfig('health', schema, source)
  const mqtt = pickMqtt(v)
  return Object.freeze({
    host: v.HEALTH_HOST,
    port: v.HEALTH_PORT,
    intervalMs: v.HEALTH_PROBE_INTERVAL_MS,
    timeoutMs: v.HEALTH_PROBE_TIMEOUT_MS,
    mqtt: { host: mqtt.host, port: mqtt.port, ...(mqtt.username === undefined ? {} : { username: mqtt.username }), ...(mqtt.password === undefined ? {} : { password: mqtt.password }) },
    brokerLog: v.MQTT_LOG_FILE,
    kafka: { brokers: pickKafka(v) },
    registry: pickPostgres('registry', v),
    timeseries: pickPostgres('timeseries', v),
    prometheusUrl: (v.PROMETHEUS_URL ?? `http://${STACK_HOST}:${STACK_PORTS.prometheus + v.F2_STACK_PORT_OFFSET}`).replace(/\/$/, ''),
    services: v.HEALTH_SERVICES.map(s => ({ ...s })),
    lag: v.HEALTH_LAG_GROUPS.map(l => ({ ...l })),
    silenceMinutes: v.DEVICE_SILENCE_MINUTES,
    seenWindowHours: v.DEVICE_SEEN_WINDOW_HOURS
  })
}
