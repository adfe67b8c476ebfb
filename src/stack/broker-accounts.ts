import { join } from 'node:path'
import { ACCOUNTS } from '../broker/dynsec.ts'
import { pkiPaths, type PkiPaths } from '../broker/pki.ts'
import type { StackConfig, StackPaths } from './config.ts'
import { stackSecret } from './secrets.ts'

/**
 * The native stack's broker accounts. Passwords come from `.stack/secrets/` (generated at
 * first use, never committed); the broker's plugin file is created from them on its first start.
 */
export interface BrokerAccount { username: string, password: string }

export function brokerAccount (paths: StackPaths, name: keyof typeof ACCOUNTS): BrokerAccount {
  return { username: ACCOUNTS[name], password: stackSecret(paths, `mqtt-${name}`) }
}

/** The project CA and the broker's certificate, under `.stack/pki` (CA key 0600). */
export function stackPki (paths: StackPaths): PkiPaths {
  return pkiPaths(join(paths.stackDir, 'pki'))
}

/** Which broker account a service connects with (see ServiceDefinition.mqtt). */
export type BrokerRole = 'connector' | 'health' | 'admin' | 'dispatcher'

/**
 * MQTT_USERNAME/MQTT_PASSWORD of `role`, and where the controller listeners and the CA are
 * (MQTT_TLS_PORT, MQTT_TLS_PASSWORD_PORT, MQTT_CA_FILE) for services that act as controllers.
 */
export function brokerEnv (cfg: StackConfig, paths: StackPaths, role: BrokerRole | undefined): Record<string, string> {
  const env: Record<string, string> = {
    MQTT_TLS_PORT: String(cfg.mqttsPort),
    MQTT_TLS_PASSWORD_PORT: String(cfg.mqttsPasswordPort),
    MQTT_CA_FILE: stackPki(paths).caCert
  }
  if (role === undefined) return env
  const account = brokerAccount(paths, role)
  if (role === 'health') return { ...env, MQTT_USERNAME: account.username, MQTT_PASSWORD: account.password, MQTT_LOG_FILE: join(paths.logsDir, 'mosquitto.log') }
  if (role === 'admin') return { ...env, MQTT_ADMIN_USERNAME: account.username, MQTT_ADMIN_PASSWORD: account.password }
  return { ...env, MQTT_USERNAME: account.username, MQTT_PASSWORD: account.password }
}

