import { projectRoot, stackConfig } from '../src/stack/config.ts'
import { stackBroker as testStackBroker } from './broker.ts'
import { stackEnv } from './stack.ts'

/** Where a private pipeline (pipeline.ts) and the benchmarks find the running stack. */
export const ROOT = projectRoot()

/** A broker and the accounts a private pipeline uses on it (the stack's, from .stack/, unless given). */
export interface BenchBroker {
  /** Plain listener (127.0.0.1): the connector, and plain-transport controllers. */
  mqttUrl: string
  /** TLS listener for controllers with a password. */
  mqttTlsUrl: string
  caFile: string
  admin: { username: string, password: string }
  connector: { username: string, password: string }
}

export function stackBroker (): BenchBroker {
  const broker = testStackBroker()
  return {
    mqttUrl: broker.url,
    mqttTlsUrl: broker.mqttsPasswordUrl,
    caFile: process.env.MQTT_CA_FILE ?? broker.pki.caCert,
    admin: { username: broker.admin.username, password: broker.admin.password },
    connector: broker.connector
  }
}

export interface StackUrls {
  mqttUrl: string
  kafka: string
  registryUrl: string
  timeseriesUrl: string
}

/** The stack's addresses as the harness reads them (stack.ts); databases as their owners. */
export function stackUrls (): StackUrls {
  const e = stackEnv()
  return { mqttUrl: e.mqttUrl, kafka: e.kafkaBootstrap, registryUrl: e.registryUrl, timeseriesUrl: e.timeseriesUrl }
}

export const kafkaPartitions = stackConfig().kafkaPartitions
