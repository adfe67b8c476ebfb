import { z } from 'zod'
import { env } from '../config.ts'
import { portOffsetField, STACK_HOST, STACK_PORTS, type WithPortOffset } from './stack-ports.ts'

/**
 * Where the MQTT broker is and as whom a service logs in: the seed's MQTT_BROKER (a host name,
 * or a full `mqtt://` / `mqtts://` URL) and MQTT_PORT; unset, the native stack's plain listener
 * (with F2_STACK_PORT_OFFSET). A bad port is a config error at start-up.
 */
export const mqttFields = {
  MQTT_BROKER: env.string(STACK_HOST),
  MQTT_PORT: env.port(),
  MQTT_USERNAME: z.string().optional(),
  MQTT_PASSWORD: z.string().optional(),
  ...portOffsetField
}

export interface MqttValues extends WithPortOffset {
  MQTT_BROKER: string
  MQTT_PORT?: number | undefined
  MQTT_USERNAME?: string | undefined
  MQTT_PASSWORD?: string | undefined
}

export interface MqttConnection {
  /** `mqtt://host:port`, or MQTT_BROKER as given when it is a URL. */
  url: string
  host: string
  port: number
  username: string | undefined
  password: string | undefined
}

const isUrl = (broker: string): boolean => /^[a-z]+:\/\//i.test(broker)

/** The URL for a broker given as a host name (the seed's form) or as a full URL. */
export function mqttUrl (broker: string, port: number): string {
  return isUrl(broker) ? broker : `mqtt://${broker}:${port}`
}

/** The broker's host (the host of MQTT_BROKER when it is a URL). */
export function mqttHost (broker: string): string {
  return isUrl(broker) ? new URL(broker).hostname : broker
}

/** The native stack's port `name` at `offset` unless `explicit` is given. */
export function mqttPortOr (explicit: number | undefined, offset: number, name: 'mqtt' | 'mqtts' | 'mqttsPassword' = 'mqtt'): number {
  return explicit ?? STACK_PORTS[name] + offset
}

/** The connection from values parsed with `mqttFields`. */
export function pickMqtt (values: MqttValues): MqttConnection {
  const port = mqttPortOr(values.MQTT_PORT, values.F2_STACK_PORT_OFFSET)
  return {
    url: mqttUrl(values.MQTT_BROKER, port),
    host: mqttHost(values.MQTT_BROKER),
    port: isUrl(values.MQTT_BROKER) && new URL(values.MQTT_BROKER).port !== '' ? Number(new URL(values.MQTT_BROKER).port) : port,
    username: values.MQTT_USERNAME,
    password: values.MQTT_PASSWORD
  }
}
