import { parseArgs } from 'node:util'
import { DB_ROLES } from '../../storage/roles.ts'
import { databaseUrl, stackConfig, stackPaths, type DatabaseConfig, type DatabaseRole } from '../config.ts'
import { readStackSecret } from '../secrets.ts'

const USAGE = `usage: npm run -s db -- url <registry|timeseries> [--role <role>]
       npm run -s db -- env [registry|timeseries|all] [--role <role>]

Connection settings of the native stack's databases, with the generated passwords of
.stack/secrets (docs/operations/deployment-security.md):
  url   a postgres:// URL, by default as the read-only role:
          psql "$(npm run -s db -- url timeseries)" -c 'select count(*) from iot_measurements'
  env   export lines in the seed's variable names (POSTGRES_*, TIMESCALE_*), by default as the
        owner, for commands run by hand:  eval "$(npm run -s db -- env registry)"
Roles: registry ${Object.keys(DB_ROLES.registry).join('|')}; timeseries ${Object.keys(DB_ROLES.timeseries).join('|')}.
F2_STACK_PORT_OFFSET shifts the ports as for the stack.
`

type Target = 'registry' | 'timeseries'
const PREFIX: Record<Target, 'POSTGRES' | 'TIMESCALE'> = { registry: 'POSTGRES', timeseries: 'TIMESCALE' }

const quote = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`

class Usage extends Error {}

/** The role's credentials; never creates a secret (a fresh one would not match the server's). */
function roleOf (db: DatabaseConfig, target: Target, role: string): DatabaseRole {
  const known = db.roles[role]
  if (known === undefined) throw new Usage(`${target} has no role '${role}' (${Object.keys(db.roles).join(', ')})`)
  return known
}

function requireSecrets (target: Target, roles: string[]): void {
  const paths = stackPaths()
  for (const role of roles) {
    if (readStackSecret(paths, `${target}-${role}`) === undefined) {
      throw new Error(`no generated password for ${target}/${role} under ${paths.stackDir}/secrets: start the stack once (npm start or npm run stack -- up)`)
    }
  }
}

/** `db url|env`: prints connection settings of the native stack; exit 0, 1 (no secrets yet) or 2 (usage). */
export async function run (argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: { role: { type: 'string' }, help: { type: 'boolean', short: 'h' } } })
    const [sub, which, ...rest] = positionals
    if (values.help === true) {
      process.stdout.write(USAGE)
      return 0
    }
    if (rest.length > 0) throw new Usage('too many arguments')
    if (sub === 'url') {
      if (which !== 'registry' && which !== 'timeseries') throw new Usage('db url needs registry or timeseries')
      const role = values.role ?? 'reader'
      if (!(role in DB_ROLES[which])) throw new Usage(`${which} has no role '${role}'`)
      requireSecrets(which, [role])
      const db = stackConfig()[which]
      process.stdout.write(`${databaseUrl(db, roleOf(db, which, role))}\n`)
      return 0
    }
    if (sub === 'env') {
      const targets: Target[] = which === undefined || which === 'all' ? ['registry', 'timeseries'] : which === 'registry' || which === 'timeseries' ? [which] : []
      if (targets.length === 0) throw new Usage('db env takes registry, timeseries or all')
      const role = values.role ?? 'owner'
      for (const t of targets) if (!(role in DB_ROLES[t])) throw new Usage(`${t} has no role '${role}'`)
      for (const t of targets) requireSecrets(t, [role])
      const cfg = stackConfig()
      const lines: string[] = []
      for (const t of targets) {
        const db = cfg[t]
        const r = roleOf(db, t, role)
        const p = PREFIX[t]
        lines.push(`export ${p}_HOST=127.0.0.1`, `export ${p}_PORT=${db.port}`, `export ${p}_DB=${quote(db.database)}`,
          `export ${p}_USER=${quote(r.user)}`, `export ${p}_PASSWORD=${quote(r.password)}`)
      }
      process.stdout.write(`${lines.join('\n')}\n`)
      return 0
    }
    throw new Usage(sub === undefined ? 'missing command' : `unknown command '${sub}'`)
  } catch (err) {
    if (err instanceof Usage || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true) {
      process.stderr.write(`${(err as Error).message}\n\n${USAGE}`)
      return 2
    }
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
}
