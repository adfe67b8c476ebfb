import { z } from 'zod'
import { configLoader, env, httpFields, pickHttp } from '../../adapters/config.ts'
import { mqttFields, mqttHost, mqttPortOr, pickMqtt } from '../../adapters/connections/mqtt.ts'
import { pickPostgres, postgresFields } from '../../adapters/connections/postgres.ts'
import { DB_ROLES } from '../../storage/roles.ts'

export const schema = z.object({
  ...mqttFields,
  /** Each simulated controller connects with its own account: over TLS (default) or, when asked, plain. */
  SIM_TRANSPORT: env.oneOf(['tls', 'plain'], 'tls'),
  /** The broker's listener for controllers with a password (TLS; unset: the native stack's), and the CA of its certificate. */
  MQTT_TLS_PASSWORD_PORT: env.port(),
  MQTT_CA_FILE: z.string().optional(),
  /** The admin account: the simulator gives the controllers it plays their accounts. */
  MQTT_ADMIN_USERNAME: env.string('f2-admin'),
  MQTT_ADMIN_PASSWORD: z.string().min(1).optional(),
  /** Instead of the admin account: `registry add-controllers`' credentials.csv. */
  SIM_CREDENTIALS_FILE: z.string().optional(),
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
  DEVICE_TIMEZONE: env.string('UTC'),
  ...httpFields(9401),
  // The password is required only when the registry is used (see the refinement below): a
  // generated fleet that is not registered never connects to it.
  ...postgresFields('registry', DB_ROLES.registry.reader, { passwordOptional: true })
}).superRefine((v, ctx) => {
  if (v.POSTGRES_PASSWORD === undefined && (v.SIM_DEVICES === 0 || v.SIM_REGISTER)) {
    ctx.addIssue({
      code: 'custom',
      path: ['POSTGRES_PASSWORD'],
      message: 'required to read the registry (SIM_DEVICES=0) or register a fleet (SIM_REGISTER): the password of POSTGRES_USER, there is no default; see docs/operations/deployment-security.md'
    })
  }
})

export type SimulatorConfig = ReturnType<typeof loadSimulatorConfig>

export const loadSimulatorConfig = configLoader('simulator', schema, c => {
  // The TLS listener on the broker's host (a full URL in MQTT_BROKER keeps its host, not its port).
  const mqttTlsUrl: string = `mqtts://${mqttHost(c.MQTT_BROKER)}:${mqttPortOr(c.MQTT_TLS_PASSWORD_PORT, c.F2_STACK_PORT_OFFSET, 'mqttsPassword')}`
  return {
    mqttUrl: pickMqtt(c).url,
    transport: c.SIM_TRANSPORT,
    mqttTlsUrl,
    mqttCaFile: c.MQTT_CA_FILE,
    adminUsername: c.MQTT_ADMIN_USERNAME,
    adminPassword: c.MQTT_ADMIN_PASSWORD,
    credentialsFile: c.SIM_CREDENTIALS_FILE,
    intervalMs: c.PUBLISH_INTERVAL * 1000,
    /** 0 = the registry's controllers. */
    devices: c.SIM_DEVICES,
    register: c.SIM_REGISTER,
    registryWaitMs: c.SIM_REGISTRY_WAIT_S * 1000,
    registry: Object.freeze(pickPostgres('registry', c)),
    seed: c.SIM_SEED,
    qos: Number(c.SIM_QOS) as 0 | 1 | 2,
    rate: c.SIM_RATE,
    count: c.SIM_COUNT,
    durationMs: c.SIM_DURATION_S * 1000,
    maxInFlight: c.SIM_MAX_IN_FLIGHT,
    commands: c.SIM_COMMANDS,
    zone: c.DEVICE_TIMEZONE,
    ...pickHttp(c),
    clientId: `f2-simulator-${c.SIM_SEED}-${process.pid}`
  }
})
