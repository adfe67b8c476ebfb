import { chmodSync, chownSync, copyFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { env, loadConfig } from '../adapters/config.ts'
import { isF2Error } from '../core/errors.ts'
import { writeDynsecFile } from './dynsec-file.ts'
import { ensurePki } from './pki.ts'

const schema = z.object({
  /** The project CA and the broker's certificate (a volume only this command and the admin tools write). */
  F2_PKI_DIR: env.string('/pki'),
  /** The broker's data volume: its certificate and key copies and the plugin's file go here. */
  MQTT_DATA_DIR: env.string('/mosquitto/data'),
  /** Names and addresses the broker's certificate is valid for, comma-separated. */
  MQTT_CERT_HOSTS: env.list(['mosquitto', 'localhost', '127.0.0.1']),
  /** The broker's user in its image (eclipse-mosquitto: 1883). */
  MQTT_BROKER_UID: env.int(1883, 0, 65535),
  MQTT_ADMIN_PASSWORD: z.string().min(12),
  MQTT_CONNECTOR_PASSWORD: z.string().min(12),
  MQTT_HEALTH_PASSWORD: z.string().min(12),
  MQTT_DISPATCHER_PASSWORD: z.string().min(12)
})

/**
 * `broker-init` (compose's one-shot before the broker): creates the project CA and the broker's
 * certificate on the first start, and the dynamic security plugin's file with the service
 * accounts (keeping the controllers' accounts on later starts). Idempotent.
 */
export async function run (): Promise<number> {
  try {
    const c = loadConfig('broker-init', schema, process.env)
    const pki = ensurePki(c.F2_PKI_DIR, c.MQTT_CERT_HOSTS)
    const owner = { uid: c.MQTT_BROKER_UID, gid: c.MQTT_BROKER_UID }
    const certs = join(c.MQTT_DATA_DIR, 'pki')
    mkdirSync(certs, { recursive: true, mode: 0o700 })
    chownSync(certs, owner.uid, owner.gid)
    for (const [from, to] of [[pki.caCert, 'ca.crt'], [pki.serverCert, 'server.crt'], [pki.serverKey, 'server.key']] as const) {
      copyFileSync(from, join(certs, to))
      chmodSync(join(certs, to), to === 'server.key' ? 0o600 : 0o644)
      chownSync(join(certs, to), owner.uid, owner.gid)
    }
    writeDynsecFile(join(c.MQTT_DATA_DIR, 'dynamic-security.json'), {
      admin: c.MQTT_ADMIN_PASSWORD, connector: c.MQTT_CONNECTOR_PASSWORD, health: c.MQTT_HEALTH_PASSWORD, dispatcher: c.MQTT_DISPATCHER_PASSWORD
    }, owner)
    process.stdout.write(`broker: CA ${pki.caCert}, certificate for ${c.MQTT_CERT_HOSTS.join(', ')}, accounts in ${c.MQTT_DATA_DIR}/dynamic-security.json\n`)
    return 0
  } catch (err) {
    process.stderr.write(`${isF2Error(err) ? `${err.code}: ` : ''}${(err as Error).message}\n`)
    return 1
  }
}
