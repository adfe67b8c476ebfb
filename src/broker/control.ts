import { randomBytes } from 'node:crypto'
import mqtt, { type MqttClient } from 'mqtt'
import { tlsOptions, type MqttTls } from '../adapters/mqtt.ts'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import { CONTROL_TOPIC, harmlessError, RESPONSE_TOPIC, type Command } from './dynsec.ts'

/** How to reach the broker as its admin account (the only one allowed on `$CONTROL/dynamic-security`). */
export interface BrokerAdmin {
  url: string
  username: string
  password: string
  tls?: MqttTls
}

export interface BrokerControl {
  /**
   * Sends `commands` in one control message and waits for the broker's answers; rejects with
   * F2_BROKER_ACCESS_FAILED naming the first command that failed (deleting what is already
   * gone is not a failure). Commands run in order; the ones before a failure stay applied.
   */
  run: (commands: Command[], timeoutMs?: number) => Promise<Response[]>
  close: () => Promise<void>
}

export interface Response { command?: string, error?: string, correlationData?: string, data?: unknown }

/**
 * Changes the broker's accounts over MQTT (`$CONTROL/dynamic-security/v1`), the same way
 * natively and in compose: no shell access to the broker is needed.
 */
export async function connectBrokerControl (admin: BrokerAdmin): Promise<BrokerControl> {
  let client: MqttClient
  try {
    client = await mqtt.connectAsync(admin.url, {
      protocolVersion: 5,
      clientId: `f2-admin-${randomBytes(6).toString('hex')}`,
      username: admin.username,
      password: admin.password,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...tlsOptions(admin.tls)
    })
  } catch (err) {
    throw new F2Error(ErrorCodes.BROKER_ACCESS_FAILED, `cannot connect to the broker as ${admin.username} (${admin.url}): ${(err as Error).message}`, { cause: err, retryable: true })
  }
  const pending = new Map<string, (responses: Response[]) => void>()
  client.on('message', (topic, payload) => {
    if (topic !== RESPONSE_TOPIC) return
    let responses: Response[]
    try { responses = (JSON.parse(payload.toString('utf8')) as { responses?: Response[] }).responses ?? [] } catch { return }
    const id = responses[0]?.correlationData
    if (id === undefined) return
    pending.get(id)?.(responses)
  })
  const granted = await client.subscribeAsync(RESPONSE_TOPIC, { qos: 1 })
  if (granted[0] === undefined || granted[0].qos > 2) {
    client.end(true)
    throw new F2Error(ErrorCodes.BROKER_ACCESS_FAILED, `${admin.username} may not use the broker's control topic`)
  }
  return {
    async run (commands, timeoutMs = 15_000) {
      if (commands.length === 0) return []
      const id = randomBytes(8).toString('hex')
      const tagged = commands.map((c, i) => ({ ...c, correlationData: `${id}:${i}` }))
      // Answers come in one message, in order; each carries its command's correlation data.
      const answered = new Promise<Response[]>((resolve, reject) => {
        const timer = setTimeout(() => { pending.delete(`${id}:0`); reject(new F2Error(ErrorCodes.BROKER_ACCESS_FAILED, `the broker did not answer ${commands.length} access command(s) within ${timeoutMs} ms`, { retryable: true })) }, timeoutMs)
        pending.set(`${id}:0`, r => { clearTimeout(timer); pending.delete(`${id}:0`); resolve(r) })
      })
      await client.publishAsync(CONTROL_TOPIC, JSON.stringify({ commands: tagged }), { qos: 1 })
      const responses = await answered
      for (const [i, c] of commands.entries()) {
        const error = responses[i]?.error
        if (error !== undefined && !harmlessError(c, error)) {
          throw new F2Error(ErrorCodes.BROKER_ACCESS_FAILED, `broker refused ${c.command}${typeof c.username === 'string' ? ` ${c.username}` : ''}: ${error}`, { details: { command: c.command } })
        }
      }
      return responses
    },
    close: async () => { await client.endAsync() }
  }
}
