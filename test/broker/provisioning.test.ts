import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { startPrivateMosquitto, type PrivateMosquitto } from '../../harness/private-mosquitto.ts'
import { run as registry } from '../../src/registry/cli.ts'
import { freePort } from '../../src/stack/ports.ts'

/**
 * `registry add-controllers --offline`: a fleet's accounts written into the stopped broker's
 * dynamic security file, then used against the real Mosquitto started on that file.
 */
const newMac = (): string => `02${randomBytes(5).toString('hex')}`
const dir = mkdtempSync(join(tmpdir(), 'f2-offline-'))
const opened: MqttClient[] = []
let broker: PrivateMosquitto | undefined

afterAll(async () => {
  for (const c of opened) c.end(true)
  await broker?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** Runs the registry CLI with `env` set, returning its exit code and output. */
async function cli (args: string[], env: Record<string, string>): Promise<{ code: number, output: string }> {
  const chunks: string[] = []
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => { chunks.push(String(chunk)); return true })
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => { chunks.push(String(chunk)); return true })
  const saved = Object.fromEntries(Object.keys(env).map(k => [k, process.env[k]]))
  Object.assign(process.env, env)
  try {
    return { code: await registry(args), output: chunks.join('') }
  } finally {
    for (const [k, v] of Object.entries(saved)) { if (v === undefined) Reflect.deleteProperty(process.env, k); else process.env[k] = v }
    out.mockRestore()
    err.mockRestore()
  }
}

async function connect (url: string, options: IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...options })
  c.on('error', () => {})
  opened.push(c)
  return c
}

describe('registry add-controllers --offline', () => {
  it('writes the accounts into the stopped broker\'s file; the broker started on it lets each controller in, on its own topics only', async () => {
    const macs = [newMac(), newMac(), newMac()]
    const list = join(dir, 'macs.txt')
    writeFileSync(list, `${macs.join('\n')}\n`)
    const out = join(dir, 'creds')
    broker = await startPrivateMosquitto({
      // Nothing listens on the port the CLI checks: the broker is "stopped" while its file is edited.
      editDynsec: async file => {
        const r = await cli(['add-controllers', '--file', list, '--offline', file, '--out', out], { MQTT_BROKER: '127.0.0.1', MQTT_PORT: String(await freePort()) })
        expect(r.code, r.output).toBe(0)
      }
    })
    const creds = new Map(readFileSync(join(out, 'credentials.csv'), 'utf8').trim().split('\n').slice(1).map(l => l.split(',')).map(([mac, , password]) => [mac, password]))
    expect([...creds.keys()].sort()).toEqual([...macs].sort())

    const [a, b] = macs as [string, string]
    const asController = (mac: string, password: string): IClientOptions => ({ username: `f2-${mac}`, clientId: `f2-${mac}`, password, ca: broker?.ca })
    const watcher = await connect(broker.url, { ...broker.connector, clientId: `w-${a}` })
    await watcher.subscribeAsync('tele/#', { qos: 1 })
    const seen: string[] = []
    watcher.on('message', topic => { seen.push(topic) })

    const ctrl = await connect(broker.mqttsPasswordUrl, asController(a, creds.get(a) ?? ''))
    await ctrl.publishAsync(`tele/f2-${a}/sensor-mode/J3/sensor-1`, 'own', { qos: 1 })
    // Another controller's topic: the broker drops it (its PUBACK says "not authorized").
    await ctrl.publishAsync(`tele/f2-${b}/sensor-mode/J3/sensor-1`, 'forged', { qos: 1 }).catch(() => undefined)
    await ctrl.publishAsync(`tele/f2-${a}/sensor-mode/J3/sensor-2`, 'own again', { qos: 1 })
    await new Promise(resolve => setTimeout(resolve, 500))
    expect(seen).toEqual([`tele/f2-${a}/sensor-mode/J3/sensor-1`, `tele/f2-${a}/sensor-mode/J3/sensor-2`])

    await expect(connect(broker.mqttsPasswordUrl, asController(b, `${creds.get(b) ?? ''}x`))).rejects.toThrow(/Not authorized|Bad User Name or Password/i)
    await expect(connect(broker.mqttsPasswordUrl, asController(b, creds.get(b) ?? ''))).resolves.toBeDefined()
  }, 60_000)

  it('refuses, registering nothing, while a broker answers (it would overwrite its file)', async () => {
    const running = broker as PrivateMosquitto
    const mac = newMac()
    const list = join(dir, 'one.txt')
    writeFileSync(list, `${mac}\n`)
    const file = join(dir, 'untouched.json')
    writeFileSync(file, '{}')
    const r = await cli(['add-controllers', '--file', list, '--offline', file, '--out', join(dir, 'none')], { MQTT_BROKER: '127.0.0.1', MQTT_PORT: String(running.port) })
    expect(r.code).toBe(1)
    expect(r.output).toMatch(/a broker answers at mqtt:\/\/127\.0\.0\.1:\d+: stop it first/)
    expect(readFileSync(file, 'utf8')).toBe('{}')
    const listed = await cli(['list', '--json'], {})
    expect(listed.code).toBe(0)
    expect(listed.output).not.toContain(mac)
  }, 30_000)
})
