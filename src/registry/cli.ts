import { writeFileSync, mkdirSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { adminSettings, brokerLocation } from '../broker/config.ts'
import { connectBrokerControl } from '../broker/control.ts'
import { grantControllers, grantControllersOffline, revokeControllers, type CredentialKind, type IssuedCredentials } from '../broker/provisioning.ts'
import { isF2Error } from '../core/errors.ts'
import { stackPaths } from '../stack/config.ts'
import { stackPki } from '../stack/broker-accounts.ts'
import { isPortOpen } from '../stack/ports.ts'
import { readStackSecret } from '../stack/secrets.ts'
import { databaseFromEnv } from '../adapters/connections/postgres.ts'
import { connect } from '../storage/connection.ts'
import { DB_ROLES } from '../storage/roles.ts'
import { addController, addSensor, addTemplate, setReportingInterval, type DataPointInput, type TemplateInput } from './admin.ts'
import { invalidChange } from './admin-input.ts'
import { setConnectorMode } from './connector-mode.ts'
import { listControllers, listTemplates } from './listing.ts'

const USAGE = `usage: registry <command> [options]

  list [--json]                                   controllers, their connectors, pins and sensors; templates
  add-controller --mac <mac> [--name <name>] [--credentials password|certificate|none] [--out <dir>]
                                                  register it and issue its broker credentials: a password
                                                  (printed once) or a certificate + key written to --out
  add-controllers --file <macs> [--credentials password|certificate] [--out <dir>] [--offline <dynsec-file>]
                                                  the same for a fleet: one MAC (optionally "mac,name") a line;
                                                  passwords go to <out>/credentials.csv (0600), never to stdout.
                                                  --offline: the broker is stopped; the accounts are written into
                                                  its dynamic-security.json in one pass (a fleet of thousands: over
                                                  MQTT the broker rewrites that file after every account)
  revoke-controller <mac>                         remove its broker account: disconnected at once, refused after
  add-template --name <name> [--model <m>] [--description <d>] [--type <device type>] [--replace]
               (--file <data-points.json> | --datapoint <label:format:offset:length[:decimals[:unit[:encoding]]]> ...)
  add-sensor --controller <mac> --connector <1..5> --pin <n> --template <name> [--name <name>] [--replace]
  set-interval --controller <mac> --seconds <1..604800 | default>
                                                  the reporting interval the fleet state expects of the controller
                                                  (offline after FLEET_OFFLINE_AFTER_INTERVALS of them; default =
                                                  FLEET_EXPECTED_INTERVAL_S); seen without restart
  set-connector --controller <mac> --connector <1..5> --mode <mode> [--pin <n>] ...
                                                  record the connector's mode (access-control-mode, alarm-mode,
                                                  sensor-mode) and the positions of its parts: commands need both

The registry database comes from POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB, POSTGRES_USER,
POSTGRES_PASSWORD (default 127.0.0.1:5432 device_params iot_user, the registry's owner; the
password has no default: on the native stack, eval "$(npm run -s db -- env registry)" sets
them all). A data-points file holds
an array of {label, dataFormat, dataEncoding?, offset, length, decimals?, prepend?, append?}
or an object with such an array under "dataPoints".

Broker credentials are changed over MQTT as the admin account: MQTT_BROKER, MQTT_PORT,
MQTT_ADMIN_USERNAME (f2-admin), MQTT_ADMIN_PASSWORD, MQTT_CA_FILE (for mqtts://); certificates come
from the CA in F2_PKI_DIR. The native stack's own (.stack/secrets, .stack/pki) are used when unset.
--out defaults to ./f2-credentials.
`

/** Parses `label:format:offset:length[:decimals[:unit[:encoding]]]`. */
export function parseDataPointFlag (text: string): DataPointInput {
  const [label, dataFormat, offset, length, decimals, unit, encoding] = text.split(':')
  const int = (s: string | undefined, what: string): number => {
    const n = Number(s)
    if (s === undefined || s.trim() === '' || !Number.isInteger(n)) throw invalidChange(`--datapoint '${text}': ${what} is not an integer`)
    return n
  }
  if (label === undefined || label.trim() === '' || dataFormat === undefined || dataFormat.trim() === '') {
    throw invalidChange(`--datapoint '${text}': expected label:format:offset:length[:decimals[:unit[:encoding]]]`)
  }
  return {
    label: label.trim(),
    dataFormat: dataFormat.trim(),
    offset: int(offset, 'offset'),
    length: int(length, 'length'),
    decimals: decimals === undefined || decimals === '' ? null : int(decimals, 'decimals'),
    append: unit === undefined || unit === '' ? null : ` ${unit.trim()}`,
    dataEncoding: encoding === undefined || encoding === '' ? null : encoding.trim()
  }
}

async function templateFromFlags (values: Record<string, string | boolean | string[] | undefined>): Promise<TemplateInput> {
  const name = values.name
  if (typeof name !== 'string' || name.trim() === '') throw invalidChange('add-template needs --name')
  let dataPoints: unknown = (values.datapoint as string[] | undefined ?? []).map(parseDataPointFlag)
  let model = typeof values.model === 'string' ? values.model : null
  let description = typeof values.description === 'string' ? values.description : null
  if (typeof values.file === 'string') {
    if ((dataPoints as unknown[]).length > 0) throw invalidChange('give either --file or --datapoint, not both')
    const json: unknown = JSON.parse(await readFile(values.file, 'utf8'))
    if (Array.isArray(json)) dataPoints = json
    else if (typeof json === 'object' && json !== null) {
      const o = json as { dataPoints?: unknown, model?: unknown, description?: unknown }
      dataPoints = o.dataPoints
      if (model === null && typeof o.model === 'string') model = o.model
      if (description === null && typeof o.description === 'string') description = o.description
    }
  }
  return { name: name.trim(), model, description, deviceType: typeof values.type === 'string' ? values.type : 'Sensor', dataPoints: dataPoints as DataPointInput[] }
}

function int (value: unknown, flag: string): number {
  const n = Number(value)
  if (typeof value !== 'string' || !Number.isInteger(n)) throw invalidChange(`${flag} needs an integer`)
  return n
}

function str (value: unknown, flag: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw invalidChange(`${flag} is required`)
  return value
}

function credentialKind (value: unknown, allowNone: boolean): CredentialKind | 'none' {
  if (value === undefined) return 'password'
  if (value === 'password' || value === 'certificate' || (allowNone && value === 'none')) return value
  throw invalidChange(`--credentials must be password${allowNone ? ', certificate or none' : ' or certificate'}`)
}

const outDir = (value: unknown): string => typeof value === 'string' ? value : join(process.cwd(), 'f2-credentials')

function brokerAdmin (): ReturnType<typeof adminSettings> {
  const paths = stackPaths()
  return adminSettings(process.env, { password: () => readStackSecret(paths, 'mqtt-admin'), pkiDir: stackPki(paths).dir })
}

async function issueCredentials (macs: string[], kind: CredentialKind, out: string): Promise<IssuedCredentials[]> {
  const settings = brokerAdmin()
  if (kind === 'certificate' && settings.pki === undefined) throw invalidChange('no CA to issue certificates from: set F2_PKI_DIR (the directory with ca.crt and ca.key)')
  const control = await connectBrokerControl(settings.admin)
  try {
    return await grantControllers(control, macs, kind, { ...(settings.pki === undefined ? {} : { pki: settings.pki }), outDir: out })
  } finally {
    await control.close()
  }
}

/** Refuses before anything is registered when the broker `--offline` means to edit is running. */
async function assertBrokerStopped (dynsecFile: string): Promise<void> {
  const { url } = brokerLocation(process.env)
  const u = new URL(url)
  if (await isPortOpen(Number(u.port), u.hostname, 2000)) throw invalidChange(`a broker answers at ${url}: stop it first (a running broker keeps its accounts in memory and overwrites ${dynsecFile} at its next change)`)
}

/** Credentials written into the stopped broker's file (`registry add-controllers --offline`). */
function issueOffline (dynsecFile: string, macs: string[], kind: CredentialKind, out: string): IssuedCredentials[] {
  const { pki } = brokerLocation(process.env, { pkiDir: stackPki(stackPaths()).dir })
  if (kind === 'certificate' && pki === undefined) throw invalidChange('no CA to issue certificates from: set F2_PKI_DIR (the directory with ca.crt and ca.key)')
  return grantControllersOffline(dynsecFile, macs, kind, { ...(pki === undefined ? {} : { pki }), outDir: out })
}

function describeCredentials (c: IssuedCredentials): string {
  if (c.kind === 'password') {
    return `broker account ${c.account} (username and client id), password: ${c.password ?? ''}\n` +
      'the password is shown only this once; issuing again replaces it\n'
  }
  return `broker account ${c.account}: certificate ${c.files?.cert ?? ''}, key ${c.files?.key ?? ''} (0600), CA ${c.files?.ca ?? ''}\n`
}

/** `registry <command>`: returns the exit code (0 ok, 1 failed, 2 usage). */
export async function run (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  let values: Record<string, string | boolean | string[] | undefined>
  try {
    values = parseArgs({
      args: rest,
      strict: true,
      options: {
        json: { type: 'boolean' }, mac: { type: 'string' }, name: { type: 'string' }, model: { type: 'string' },
        description: { type: 'string' }, type: { type: 'string' }, file: { type: 'string' },
        datapoint: { type: 'string', multiple: true }, replace: { type: 'boolean' }, controller: { type: 'string' },
        connector: { type: 'string' }, pin: { type: 'string', multiple: true }, template: { type: 'string' }, mode: { type: 'string' },
        credentials: { type: 'string' }, out: { type: 'string' }, seconds: { type: 'string' }, offline: { type: 'string' }
      },
      allowPositionals: command === 'revoke-controller'
    }).values
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (command === 'revoke-controller' && values.mac === undefined) {
    values.mac = parseArgs({ args: rest, strict: false, allowPositionals: true }).positionals[0]
  }
  if (!['list', 'add-controller', 'add-controllers', 'revoke-controller', 'add-template', 'add-sensor', 'set-interval', 'set-connector'].includes(command)) {
    process.stderr.write(`unknown command '${command}'\n\n${USAGE}`)
    return 2
  }
  let where
  try {
    where = databaseFromEnv('registry', DB_ROLES.registry.owner)
  } catch (err) {
    process.stderr.write(`${isF2Error(err) ? `${err.code}: ` : ''}${(err as Error).message}\n`)
    return 1
  }
  const sql = connect(where, { max: 2, connect_timeout: 10, connection: { application_name: 'f2-registry-cli' } })
  try {
    if (command === 'list') {
      const [controllers, templates] = await Promise.all([listControllers(sql), listTemplates(sql)])
      if (values.json === true) {
        process.stdout.write(`${JSON.stringify({ controllers, templates }, null, 2)}\n`)
        return 0
      }
      const lines: string[] = []
      for (const c of controllers) {
        lines.push(`controller ${c.mac}  #${c.deviceId}  ${c.name ?? ''}`)
        for (const cn of c.connectors) {
          lines.push(`  J${cn.number}`)
          for (const p of cn.pins) {
            lines.push(`    sensor-${p.position}: ${p.sensor === null ? '(nothing wired)' : `${p.sensor.name ?? ''} #${p.sensor.deviceId} [${p.sensor.template ?? 'no template'}, ${p.sensor.dataPoints} data points]`}`)
          }
        }
      }
      lines.push('', 'templates')
      for (const t of templates) {
        lines.push(`  ${t.name}  #${t.templateId}  ${t.model ?? ''} (${t.deviceType ?? '-'})`)
        for (const d of t.dataPoints) {
          lines.push(`    ${d.label}: ${d.dataFormat}${d.dataEncoding === null ? '' : ` ${d.dataEncoding}`} @${d.offset}+${d.length}${d.decimals === null ? '' : ` /10^${d.decimals}`} ${d.unit ?? ''}`)
        }
      }
      process.stdout.write(`${lines.join('\n')}\n`)
    } else if (command === 'add-controller') {
      const kind = credentialKind(values.credentials, true)
      const r = await addController(sql, { mac: str(values.mac, '--mac'), name: typeof values.name === 'string' ? values.name : null })
      process.stdout.write(`controller ${r.mac} #${r.deviceId} ${r.created ? 'created' : 'already registered'}\n`)
      if (kind !== 'none') {
        const [issued] = await issueCredentials([r.mac], kind, outDir(values.out))
        if (issued !== undefined) process.stdout.write(describeCredentials(issued))
      }
    } else if (command === 'add-controllers') {
      const kind = credentialKind(values.credentials, false)
      if (typeof values.offline === 'string') await assertBrokerStopped(values.offline)
      const lines = (await readFile(str(values.file, '--file'), 'utf8')).split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
      const macs: string[] = []
      for (const line of lines) {
        const [mac, name] = line.split(',').map(s => s.trim())
        const r = await addController(sql, { mac: mac ?? '', name: name === undefined || name === '' ? null : name })
        macs.push(r.mac)
      }
      const out = outDir(values.out)
      const issued = typeof values.offline === 'string'
        ? issueOffline(values.offline, macs, kind === 'none' ? 'password' : kind, out)
        : await issueCredentials(macs, kind === 'none' ? 'password' : kind, out)
      if (issued[0]?.kind === 'password') {
        mkdirSync(out, { recursive: true, mode: 0o700 })
        const file = join(out, 'credentials.csv')
        writeFileSync(file, `mac,username,password\n${issued.map(i => `${i.mac},${i.account},${i.password ?? ''}`).join('\n')}\n`, { mode: 0o600 })
        process.stdout.write(`${issued.length} controllers registered; their passwords are in ${file} (0600): hand them over, then delete the file\n`)
      } else {
        process.stdout.write(`${issued.length} controllers registered; certificates and keys in ${out}\n`)
      }
    } else if (command === 'revoke-controller') {
      const mac = str(values.mac, '<mac>')
      const control = await connectBrokerControl(brokerAdmin().admin)
      try { await revokeControllers(control, [mac]) } finally { await control.close() }
      process.stdout.write(`controller ${mac}: broker access revoked\n`)
    } else if (command === 'add-template') {
      const template = await templateFromFlags(values)
      const r = await addTemplate(sql, template, { ifExists: values.replace === true ? 'replace' : 'error' })
      process.stdout.write(`template '${template.name}' #${r.templateId} ${r.created ? 'created' : 'replaced'} with ${template.dataPoints.length} data points\n`)
    } else if (command === 'set-interval') {
      const seconds = str(values.seconds, '--seconds')
      const r = await setReportingInterval(sql, { mac: str(values.controller, '--controller'), seconds: seconds === 'default' ? null : int(seconds, '--seconds') })
      process.stdout.write(`controller ${r.mac}: expected reporting interval ${r.seconds === null ? 'the default' : `${r.seconds} s`}\n`)
    } else if (command === 'set-connector') {
      const r = await setConnectorMode(sql, {
        controller: str(values.controller, '--controller'),
        connector: int(values.connector, '--connector'),
        mode: str(values.mode, '--mode'),
        positions: ((values.pin ?? []) as string[]).map(p => int(p, '--pin'))
      })
      process.stdout.write(`connector #${r.connectorId} set; ${r.pinsAdded} position(s) added\n`)
    } else {
      const pins = (values.pin ?? []) as string[]
      if (pins.length > 1) throw new Error('add-sensor takes one --pin')
      const r = await addSensor(sql, {
        controller: str(values.controller, '--controller'),
        connector: int(values.connector, '--connector'),
        pin: int(pins[0], '--pin'),
        template: str(values.template, '--template'),
        name: typeof values.name === 'string' ? values.name : null,
        replace: values.replace === true
      })
      process.stdout.write(`sensor #${r.sensorDeviceId} ${r.created ? 'wired' : 'already wired'}\n`)
    }
    return 0
  } catch (err) {
    process.stderr.write(isF2Error(err) ? `${err.code}: ${err.message}\n` : `${(err as Error).message}\n`)
    return 1
  } finally {
    await sql.end({ timeout: 5 })
  }
}
