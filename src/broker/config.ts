import { existsSync, readFileSync } from 'node:fs'
import { z } from 'zod'
import { env, loadConfig, type Env } from '../adapters/config.ts'
import { mqttFields, pickMqtt } from '../adapters/connections/mqtt.ts'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import type { BrokerAdmin } from './control.ts'
import { ACCOUNTS } from './dynsec.ts'
import { pkiPaths, type PkiPaths } from './pki.ts'

export const adminSchema = z.object({
  ...mqttFields,
  MQTT_ADMIN_USERNAME: env.string(ACCOUNTS.admin),
  MQTT_ADMIN_PASSWORD: z.string().min(1).optional(),
  /** CA of the broker's certificate, for an `mqtts://` MQTT_BROKER. */
  MQTT_CA_FILE: z.string().optional(),
  /** The project CA (ca.crt, ca.key): certificates for controllers are issued from it. */
  F2_PKI_DIR: z.string().optional()
})

export interface AdminSettings {
  admin: BrokerAdmin
  pki: PkiPaths | undefined
}

/** Where the broker is, and the CA to issue controller certificates from (when its key is at hand). */
export function brokerLocation (source: Env, fallback: { pkiDir?: string } = {}): { url: string, pki: PkiPaths | undefined } {
  const c = loadConfig('registry', adminSchema, source)
  const pkiDir = c.F2_PKI_DIR ?? fallback.pkiDir
  return { url: pickMqtt(c).url, pki: pkiDir !== undefined && existsSync(pkiPaths(pkiDir).caKey) ? pkiPaths(pkiDir) : undefined }
}

/**
 * Where and as whom the registry changes broker accounts. `fallback` supplies what the native
 * stack keeps under `.stack/` (its admin password and CA) when the environment does not say.
 */
export function adminSettings (source: Env, fallback: { password?: () => string | undefined, pkiDir?: string } = {}): AdminSettings {
  const c = loadConfig('registry', adminSchema, source)
  const password = c.MQTT_ADMIN_PASSWORD ?? fallback.password?.()
  if (password === undefined) {
    throw new F2Error(ErrorCodes.CONFIG_INVALID, 'MQTT_ADMIN_PASSWORD is not set (and there is no native stack secret .stack/secrets/mqtt-admin)')
  }
  const { url, pki } = brokerLocation(source, fallback)
  return {
    admin: {
      url,
      username: c.MQTT_ADMIN_USERNAME,
      password,
      ...(c.MQTT_CA_FILE === undefined ? {} : { tls: { ca: readFileSync(c.MQTT_CA_FILE) } })
    },
    pki
  }
}
