import { parseArgs } from 'node:util'
import { isF2Error } from '../../core/errors.ts'
import { databaseFromEnv } from '../../adapters/connections/postgres.ts'
import { connect } from '../../storage/connection.ts'
import { DB_ROLES } from '../../storage/roles.ts'
import { TokenStore } from './token-store.ts'
import { API_SCOPES } from './tokens.ts'

const USAGE = `usage: token <command> [options]

  create --name <name> [--scope ${API_SCOPES.join('|')}] ...   a new API token, printed once (default scope: read)
  list [--json]                                   every token: id, name, scopes, created, revoked, last used
  revoke <id>                                     the token stops working at its next request

Tokens live (hashed) in the registry database: POSTGRES_HOST, POSTGRES_PORT, POSTGRES_DB,
POSTGRES_USER, POSTGRES_PASSWORD (default 127.0.0.1:5432 device_params iot_user).
`

const iso = (d: Date | null): string => d === null ? '-' : d.toISOString()

/** `token create|list|revoke`: returns the exit code (0 ok, 1 failed, 2 usage). */
export async function run (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE)
    return command === undefined ? 2 : 0
  }
  let parsed
  try {
    parsed = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: true,
      options: { name: { type: 'string' }, scope: { type: 'string', multiple: true }, json: { type: 'boolean' } }
    })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  const usage = (message: string): number => { process.stderr.write(`${message}\n\n${USAGE}`); return 2 }
  if (command === 'create' && (values.name === undefined || positionals.length > 0)) return usage('create needs --name and takes no positional argument')
  if (command === 'revoke' && positionals.length !== 1) return usage('revoke needs exactly one token id')
  if (command === 'list' && positionals.length > 0) return usage('list takes no positional argument')
  if (!['create', 'list', 'revoke'].includes(command)) return usage(`unknown command '${command}'`)

  const sql = connect(databaseFromEnv('registry', DB_ROLES.registry.owner), { max: 1, connect_timeout: 10, connection: { application_name: 'f2-token-cli' } })
  const store = new TokenStore(sql)
  try {
    if (command === 'create') {
      const created = await store.create(values.name as string, values.scope ?? ['read'])
      process.stdout.write(`token ${created.id} created; it is shown only now, keep it secret:\n${created.token}\n`)
    } else if (command === 'list') {
      const tokens = await store.list()
      if (values.json === true) {
        process.stdout.write(`${JSON.stringify(tokens, null, 2)}\n`)
      } else {
        const lines = ['id            scopes        created                   revoked                   last used                 name']
        for (const t of tokens) {
          lines.push(`${t.id}  ${t.scopes.join(',').padEnd(12)}  ${iso(t.createdAt).padEnd(24)}  ${iso(t.revokedAt).padEnd(24)}  ${iso(t.lastUsedAt).padEnd(24)}  ${t.name}`)
        }
        process.stdout.write(`${lines.join('\n')}\n`)
      }
    } else {
      const id = positionals[0] as string
      const changed = await store.revoke(id)
      process.stdout.write(`token ${id} ${changed ? 'revoked' : 'was already revoked'}\n`)
    }
    return 0
  } catch (err) {
    process.stderr.write(isF2Error(err) ? `${err.code}: ${err.message}\n` : `${(err as Error).message}\n`)
    return 1
  } finally {
    await sql.end({ timeout: 5 })
  }
}
