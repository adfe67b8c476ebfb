import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import mqtt from 'mqtt'
import type { Component } from './component.ts'
import { canTraverse, isRoot, ownedDir, systemUser, type SystemUser } from './users.ts'
import { waitUntil } from './wait.ts'

/** Connects with MQTT v5 and disconnects: the broker really speaks the protocol, not just TCP. */
export async function mqttReady (port: number): Promise<boolean> {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 2_000, clientId: `f2-stack-probe-${process.pid}`
  })
  await client.endAsync()
  return true
}

/** When root, run as the `mosquitto` user (as the Debian service does) rather than as root. */
function brokerUser (): SystemUser | undefined {
  return isRoot() ? systemUser('mosquitto') : undefined
}

export function mosquittoComponent (): Component {
  return {
    name: 'mosquitto',
    ports: cfg => [cfg.mqttPort],
    async prepare (ctx) {
      const user = brokerUser()
      const preferred = join(ctx.paths.dataDir, 'mosquitto')
      const dataDir = user === undefined || canTraverse(join(preferred, 'x'), user) ? preferred : join(ctx.paths.systemDataDir, 'mosquitto')
      ownedDir(dataDir, user)
      const base = readFileSync(join(ctx.paths.root, 'stack', 'mosquitto', 'mosquitto.conf'), 'utf8')
      // Rendered next to the data so the broker's user can read it wherever the data lives.
      const rendered = join(dataDir, 'mosquitto.conf')
      // Mosquitto started as root would switch to a `mosquitto` user; with none, it must stay root.
      const userLine = isRoot() && user === undefined ? 'user root\n' : ''
      const listener = base.replace(/^listener\s+\d+/m, `listener ${ctx.cfg.mqttPort}`)
      writeFileSync(rendered, `${listener}\n# rendered by src/stack/mosquitto.ts\npersistence_location ${dataDir}/\n${userLine}`)
      return {
        name: 'mosquitto',
        command: '/usr/sbin/mosquitto',
        args: ['-c', rendered],
        cwd: dataDir,
        ...(user === undefined ? {} : { user: { uid: user.uid, gid: user.gid } }),
        logFile: join(ctx.paths.logsDir, 'mosquitto.log'),
        ready: signal => waitUntil('mosquitto to accept MQTT v5 connections', () => mqttReady(ctx.cfg.mqttPort), { timeoutMs: 30_000, intervalMs: 200, signal })
      }
    }
  }
}
