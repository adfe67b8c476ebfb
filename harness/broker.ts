import { randomBytes } from 'node:crypto'
import mqtt from 'mqtt'
import { readFileSync } from 'node:fs'
import type { BrokerAdmin } from '../src/broker/control.ts'
import { connectBrokerControl } from '../src/broker/control.ts'
import { ACCOUNTS, type Acl } from '../src/broker/dynsec.ts'
import { pkiPaths, type PkiPaths } from '../src/broker/pki.ts'
import { stackPki } from '../src/stack/broker-accounts.ts'
import { readStackSecret } from '../src/stack/secrets.ts'
import { stackPaths } from '../src/stack/config.ts'
import { mqttHost, mqttPortOr, pickMqtt } from '../src/adapters/connections/mqtt.ts'
import { harnessConfig } from './stack.ts'

/** A broker with its accounts: the native stack's (stackBroker) or a private one (private-mosquitto.ts). */
export interface TestBroker {
  /** Plain listener: services and test accounts. */
  url: string
  mqttsUrl: string
  mqttsPasswordUrl: string
  ca: string
  admin: BrokerAdmin
  connector: Account
  health: Account
  dispatcher: Account
  pki: PkiPaths
}

export interface Account { username: string, password: string }

/** The running stack's broker: ports from the environment (or the stack's port table), accounts and CA from `.stack/`. */
export function stackBroker (): TestBroker {
  const env = process.env
  const c = harnessConfig()
  const paths = stackPaths()
  const host = mqttHost(c.MQTT_BROKER)
  const secret = (name: string): string => {
    const s = readStackSecret(paths, name)
    if (s === undefined) throw new Error(`no .stack/secrets/${name}: start the stack first`)
    return s
  }
  const url = pickMqtt(c).url
  const pki = env.F2_PKI_DIR === undefined ? stackPki(paths) : pkiPaths(env.F2_PKI_DIR)
  return {
    url,
    mqttsUrl: `mqtts://${host}:${mqttPortOr(c.MQTT_TLS_PORT, c.F2_STACK_PORT_OFFSET, 'mqtts')}`,
    mqttsPasswordUrl: `mqtts://${host}:${mqttPortOr(c.MQTT_TLS_PASSWORD_PORT, c.F2_STACK_PORT_OFFSET, 'mqttsPassword')}`,
    ca: readFileSync(env.MQTT_CA_FILE ?? pki.caCert, 'utf8'),
    admin: { url, username: env.MQTT_ADMIN_USERNAME ?? ACCOUNTS.admin, password: env.MQTT_ADMIN_PASSWORD ?? secret('mqtt-admin') },
    connector: { username: ACCOUNTS.connector, password: secret('mqtt-connector') },
    health: { username: ACCOUNTS.health, password: secret('mqtt-health') },
    dispatcher: { username: ACCOUNTS.dispatcher, password: secret('mqtt-dispatcher') },
    pki
  }
}

export interface TestAccount extends Account {
  /** Deletes the account and its role (connected clients are disconnected). */
  remove: () => Promise<void>
}

/**
 * A throw-away broker account allowed exactly `publish` and `subscribe` (topic filters), for a
 * test's publishers and observers; no test needs more than the filters it names.
 */
export async function testAccount (broker: Pick<TestBroker, 'admin'>, rights: { publish?: string[], subscribe?: string[] }): Promise<TestAccount> {
  const username = `test-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`
  const password = randomBytes(18).toString('base64url')
  const acls: Acl[] = [
    ...(rights.publish ?? []).map(topic => ({ acltype: 'publishClientSend' as const, topic, allow: true, priority: 0 })),
    ...(rights.subscribe ?? []).map(topic => ({ acltype: 'subscribePattern' as const, topic, allow: true, priority: 0 }))
  ]
  const control = await connectBrokerControl(broker.admin)
  try {
    await control.run([
      { command: 'createRole', rolename: username, acls },
      { command: 'createClient', username, password, roles: [{ rolename: username }] }
    ])
  } finally {
    await control.close()
  }
  return {
    username,
    password,
    remove: async () => {
      const c = await connectBrokerControl(broker.admin)
      try { await c.run([{ command: 'deleteClient', username }, { command: 'deleteRole', rolename: username }]) } finally { await c.close() }
    }
  }
}

/**
 * The simulator's broker settings for `broker` (TLS with per-controller accounts given as the
 * admin), in the variable names loadSimulatorConfig reads.
 */
export function simulatorBrokerEnv (broker: TestBroker, caFile: string): Record<string, string> {
  const plain = new URL(broker.url)
  const tls = new URL(broker.mqttsPasswordUrl)
  return {
    MQTT_BROKER: plain.hostname,
    MQTT_PORT: plain.port,
    MQTT_TLS_PASSWORD_PORT: tls.port,
    MQTT_CA_FILE: caFile,
    MQTT_ADMIN_USERNAME: broker.admin.username,
    MQTT_ADMIN_PASSWORD: broker.admin.password
  }
}

/**
 * Ends the persistent session a client id left at the broker, for a client that will not come
 * back under that id (a test's or a benchmark's dispatcher, with an id of its own per run).
 * Such a session subscribes to `stat/#`: the broker would keep a copy of every controller's
 * status message for it (up to `max_queued_messages`) until it expires, in memory and in the
 * persistence file it saves every second, slowing every later test and run on that stack.
 * A clean start discards the session; a session expiry of 0 ends the new one at disconnect.
 */
export async function endSession (url: string, clientId: string, account: Account): Promise<void> {
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 5, clientId, clean: true, reconnectPeriod: 0, connectTimeout: 10_000,
    username: account.username, password: account.password, properties: { sessionExpiryInterval: 0 }
  })
  await client.endAsync()
}
