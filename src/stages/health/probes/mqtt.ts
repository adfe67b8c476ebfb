import { randomBytes } from 'node:crypto'
import mqtt from 'mqtt'
import { abortable, type Probe } from './types.ts'

/**
 * Connects to the broker with a fresh client, subscribes to a private topic, publishes one
 * QoS 1 message there and waits for it to come back: a broker that accepts connections but
 * does not route messages is reported down. The client is closed after every check.
 */
export function mqttProbe (options: { name?: string, host: string, port: number, username?: string, password?: string }): Probe {
  return {
    name: options.name ?? 'mqtt',
    kind: 'mqtt',
    critical: true,
    async check (signal) {
      const id = randomBytes(6).toString('hex')
      const topic = `f2/health/probe/${id}`
      const started = performance.now()
      const client = mqtt.connect({
        host: options.host,
        port: options.port,
        protocolVersion: 5,
        clientId: `f2-health-${id}`,
        ...(options.username === undefined ? {} : { username: options.username }),
        ...(options.password === undefined ? {} : { password: options.password }),
        clean: true,
        reconnectPeriod: 0,
        connectTimeout: 10_000
      })
      try {
        await abortable(signal, new Promise<void>((resolve, reject) => {
          client.once('connect', () => resolve())
          client.once('error', reject)
          client.once('close', () => reject(new Error(`connection to ${options.host}:${options.port} closed`)))
        }))
        const connectedMs = performance.now() - started
        const echoed = new Promise<void>(resolve => {
          client.on('message', t => { if (t === topic) resolve() })
        })
        await abortable(signal, client.subscribeAsync(topic, { qos: 1 }))
        await abortable(signal, client.publishAsync(topic, 'ping', { qos: 1 }))
        await abortable(signal, echoed)
        return {
          broker: `${options.host}:${options.port}`,
          connect_ms: round(connectedMs),
          round_trip_ms: round(performance.now() - started - connectedMs)
        }
      } finally {
        client.removeAllListeners('close')
        client.on('error', () => {})
        client.end(true)
      }
    }
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10
