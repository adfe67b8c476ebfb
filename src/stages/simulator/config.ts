import { z } from 'zod'
import { env, loadConfig, pickPostgres, postgresFields, REGISTRY_DEFAULTS, type Env, type PostgresConnection } from '../../adapters/config.ts'
import { mqttUrl } from '../connector/config.ts'

export const schema = z.object({
  MQTT_BROKER: env.string('127.0.0.1'),
  MQTT_PORT: env.int(1883, 1, 65535),
  MQTT_USERNAME: z.string().optional(),
  MQTT_PASSWORD: z.string().optional(),
  /** Seconds between one sensor's readings (the seed's setting; F2 default 30). */
  PUBLISH_INTERVAL: env.number(30, 0.001),
  /** 0 = the registry's controllers; N = a generated fleet of N controllers. */
  SIM_DEVICES: env.int(0, 0, 50_000),
  /** Register the generated fleet in the registry (idempotent), so the processor decodes it. */
  SIM_REGISTER: env.bool(false),
  /** How long a one-shot run (--count / --duration) waits for the registry before it gives up. */
  SIM_REGISTRY_WAIT_S: env.number(30, 0),
  SIM_SEED: env.int(1, 0, 0xffffffff),
  SIM_QOS: env.oneOf(['0', '1', '2'], '1'),
  /** Load mode: messages per second across the fleet (0 = realistic pacing by PUBLISH_INTERVAL). */
  SIM_RATE: env.number(0, 0),
  SIM_COUNT: env.int(0, 0),
  SIM_DURATION_S: env.number(0, 0),
  SIM_MAX_IN_FLIGHT: env.int(1000, 1, 65535),
  SIM_COMMANDS: env.bool(true),
  /**
   * 'per-controller': every controller has its own MQTT connection with its last will
   * (`offline` on tele/f2-<mac>/LWT, retained) and announces `online` there on connect, as a
   * real controller does; 'shared': one connection for the whole fleet, no will (a will
   * speaks for one connection); 'auto': per-controller up to 100 controllers.
   */
  SIM_CONNECTIONS: env.oneOf(['auto', 'per-controller', 'shared'] as const, 'auto'),
  DEVICE_TIMEZONE: env.string('UTC'),
  HTTP_HOST: env.string('127.0.0.1'),
  HTTP_PORT: env.int(9401, 0, 65535),
  ...postgresFields('POSTGRES', REGISTRY_DEFAULTS)
})

export interface SimulatorConfig {
  mqttUrl: string
  mqttUsername: string | undefined
  mqttPassword: string | undefined
  intervalMs: number
  /** 0 = the registry's controllers. */
  devices: number
  register: boolean
  registryWaitMs: number
  registry: PostgresConnection
  seed: number
  qos: 0 | 1 | 2
  rate: number
  count: number
  durationMs: number
  maxInFlight: number
  commands: boolean
  connections: 'auto' | 'per-controller' | 'shared'
  zone: string
  httpHost: string
  httpPort: number
  clientId: string
}

export function loadSimulatorConfig (source: Env = process.env): Readonly<SimulatorConfig> {
  const c = loadConfig('simulator', schema, source)
  return Object.freeze({
    mqttUrl: mqttUrl(c.MQTT_BROKER, c.MQTT_PORT),
    mqttUsername: c.MQTT_USERNAME,
    mqttPassword: c.MQTT_PASSWORD,
    intervalMs: c.PUBLISH_INTERVAL * 1000,
    devices: c.SIM_DEVICES,
    register: c.SIM_REGISTER,
    registryWaitMs: c.SIM_REGISTRY_WAIT_S * 1000,
    registry: Object.freeze(pickPostgres('POSTGRES', c)),
    seed: c.SIM_SEED,
    qos: Number(c.SIM_QOS) as 0 | 1 | 2,
    rate: c.SIM_RATE,
    count: c.SIM_COUNT,
    durationMs: c.SIM_DURATION_S * 1000,
    maxInFlight: c.SIM_MAX_IN_FLIGHT,
    commands: c.SIM_COMMANDS,
    connections: c.SIM_CONNECTIONS,
    zone: c.DEVICE_TIMEZONE,
    httpHost: c.HTTP_HOST,
    httpPort: c.HTTP_PORT,
    clientId: `f2-simulator-${c.SIM_SEED}-${process.pid}`
  })
}
