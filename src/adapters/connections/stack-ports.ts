import { env } from '../config.ts'

/**
 * Where the native stack listens: the one table every default address is derived from (the
 * services' defaults, src/stack, the tests and the benchmark). Ports are the documented ones
 * (docs/operations/native-stack.md) shifted by F2_STACK_PORT_OFFSET, so a second copy of the
 * stack (CI on a shared machine) and everything pointed at it move together.
 */
export const STACK_HOST = '127.0.0.1'

export const STACK_PORTS = Object.freeze({
  /** Plain MQTT, for the services (credentials required). */
  mqtt: 1883,
  /** MQTT over TLS with client certificates (controllers). */
  mqtts: 8883,
  /** MQTT over TLS with username and password (controllers without a certificate). */
  mqttsPassword: 8884,
  kafka: 9092,
  kafkaController: 9093,
  registry: 5432,
  timeseries: 5433,
  prometheus: 9090,
  nodeExporter: 9100,
  registryExporter: 9187,
  timeseriesExporter: 9188,
  jmxExporter: 7071
})

export type StackPortName = keyof typeof STACK_PORTS

/** The stack's ports shifted by `offset`. */
export function stackPorts (offset: number): Readonly<Record<StackPortName, number>> {
  const out = {} as Record<StackPortName, number>
  for (const [name, port] of Object.entries(STACK_PORTS)) out[name as StackPortName] = port + offset
  return Object.freeze(out)
}

/** The offset of every port of the stack (0 = the documented ports); read by every connection schema. */
export const portOffsetField = {
  F2_STACK_PORT_OFFSET: env.int(0, 0, 50_000)
}

export interface WithPortOffset { F2_STACK_PORT_OFFSET: number }
