import { parseArgs } from 'node:util'
import { parseCommandRequest } from '../../core/command.ts'
import { isF2Error } from '../../core/errors.ts'
import { parseCommandId } from './commands.ts'
import { parseMac } from './params.ts'

const USAGE = `usage: command <send|show|list> [options]

  send <mac> --kind strike --connector N --position N --action power|unpower|toggle [--period S]
  send <mac> --kind siren --connector N --position N --state on|off
  send <mac> --kind reader-feedback --connector N --position N --signal success|fail1|fail2
  send <mac> --kind status --connector N --position N --component strike|siren
             [--ttl S]                    time to live (default: the API's, 30 s)
  show <command-id>                       a command with its state and history
  list <mac>                              a controller's newest commands

Talks to the API (F2_API_URL, default http://127.0.0.1:8080) with the token in F2_API_TOKEN
(scope command to send, read to show and list). The body is checked here first, with the
API's own rules; the API then checks it against the registry and records who sent it.
`

const INTEGER_FIELDS = ['connector', 'position', 'period', 'ttl'] as const

/** The API body for `send`, from the options; integers are converted only when they are integers. */
export function commandBody (values: Record<string, string | boolean | undefined>): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || typeof value === 'boolean') continue
    const field = key === 'ttl' ? 'ttl_s' : key
    body[field] = (INTEGER_FIELDS as readonly string[]).includes(key) && /^\d{1,6}$/.test(value) ? Number(value) : value
  }
  return body
}

/** `command send|show|list`: returns the exit code (0 ok, 1 refused or failed, 2 usage). */
export async function run (argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  const usage = (message: string): number => { process.stderr.write(`${message}\n\n${USAGE}`); return 2 }
  let parsed
  try {
    const text = { type: 'string' } as const
    parsed = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: true,
      options: { kind: text, connector: text, position: text, action: text, period: text, state: text, signal: text, component: text, ttl: text }
    })
  } catch (err) {
    return usage((err as Error).message)
  }
  const { values, positionals } = parsed
  if (!['send', 'show', 'list'].includes(command)) return usage(`unknown command '${command}'`)
  if (positionals.length !== 1) return usage(`${command} needs exactly one ${command === 'show' ? 'command id' : 'MAC'}`)
  if (command !== 'send' && Object.keys(values).length > 0) return usage(`${command} takes no options`)
  const token = env.F2_API_TOKEN
  if (token === undefined || token === '') return usage('F2_API_TOKEN is not set')
  const base = (env.F2_API_URL ?? 'http://127.0.0.1:8080').replace(/\/+$/, '')

  let path: string
  let body: Record<string, unknown> | undefined
  try {
    const target = positionals[0] as string
    if (command === 'show') {
      path = `/api/commands/${parseCommandId(target)}`
    } else {
      const mac = parseMac(target)
      path = `/api/devices/${mac}/commands`
      if (command === 'send') {
        body = commandBody(values)
        parseCommandRequest(body)
      }
    }
  } catch (err) {
    return usage(isF2Error(err) ? `${err.code}: ${err.message}` : (err as Error).message)
  }
  try {
    const res = await fetch(`${base}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(15_000)
    })
    const text = await res.text()
    if (!res.ok) {
      process.stderr.write(`HTTP ${res.status}: ${text}\n`)
      return 1
    }
    process.stdout.write(`${JSON.stringify(JSON.parse(text), null, 2)}\n`)
    return 0
  } catch (err) {
    process.stderr.write(`the API at ${base} did not answer: ${(err as Error).message}\n`)
    return 1
  }
}
