import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { isF2Error } from '../core/errors.ts'
import { connect, registryConfigFromEnv } from '../storage/connection.ts'
import { addController, addSensor, addTemplate, setReportingInterval, type DataPointInput, type TemplateInput } from './admin.ts'
import { invalidChange } from './admin-input.ts'
import { listControllers, listTemplates } from './listing.ts'

const USAGE = `usage: registry <command> [options]

  list [--json]                                   controllers, their connectors, pins and sensors; templates
  add-controller --mac <mac> [--name <name>]
  add-template --name <name> [--model <m>] [--description <d>] [--type <device type>] [--replace]
               (--file <data-points.json> | --datapoint <label:format:offset:length[:decimals[:unit[:encoding]]]> ...)
  add-sensor --controller <mac> --connector <1..5> --pin <n> --template <name> [--name <name>] [--replace]
  set-interval --controller <mac> --seconds <1..604800 | default>
                                                  the reporting interval the fleet state expects of the controller
                                                  (offline after FLEET_OFFLINE_AFTER_INTERVALS of them; default =
                                                  FLEET_EXPECTED_INTERVAL_S); seen without restart

The registry database comes from POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB, POSTGRES_USER,
POSTGRES_PASSWORD (default 127.0.0.1:5432 device_params iot_user). A data-points file holds
an array of {label, dataFormat, dataEncoding?, offset, length, decimals?, prepend?, append?}
or an object with such an array under "dataPoints".
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
        connector: { type: 'string' }, pin: { type: 'string' }, template: { type: 'string' }, seconds: { type: 'string' }
      }
    }).values
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  if (!['list', 'add-controller', 'add-template', 'add-sensor', 'set-interval'].includes(command)) {
    process.stderr.write(`unknown command '${command}'\n\n${USAGE}`)
    return 2
  }
  const sql = connect(registryConfigFromEnv(), { max: 2, connect_timeout: 10, connection: { application_name: 'f2-registry-cli' } })
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
      const r = await addController(sql, { mac: str(values.mac, '--mac'), name: typeof values.name === 'string' ? values.name : null })
      process.stdout.write(`controller ${r.mac} #${r.deviceId} ${r.created ? 'created' : 'already registered'}\n`)
    } else if (command === 'add-template') {
      const template = await templateFromFlags(values)
      const r = await addTemplate(sql, template, { ifExists: values.replace === true ? 'replace' : 'error' })
      process.stdout.write(`template '${template.name}' #${r.templateId} ${r.created ? 'created' : 'replaced'} with ${template.dataPoints.length} data points\n`)
    } else if (command === 'set-interval') {
      const seconds = str(values.seconds, '--seconds')
      const r = await setReportingInterval(sql, { mac: str(values.controller, '--controller'), seconds: seconds === 'default' ? null : int(seconds, '--seconds') })
      process.stdout.write(`controller ${r.mac}: expected reporting interval ${r.seconds === null ? 'the default' : `${r.seconds} s`}\n`)
    } else {
      const r = await addSensor(sql, {
        controller: str(values.controller, '--controller'),
        connector: int(values.connector, '--connector'),
        pin: int(values.pin, '--pin'),
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
