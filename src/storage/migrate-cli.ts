import { parseArgs } from 'node:util'
import { isF2Error } from '../core/errors.ts'
import { databaseFromEnv } from '../adapters/connections/postgres.ts'
import { connect, describeTarget } from './connection.ts'
import { DB_ROLES } from './roles.ts'
import { migrate, type MigrateReport, type MigrationTarget, type TimeseriesSettings, type TimeseriesVariant } from './migrate.ts'

const USAGE = `usage: migrate [registry|timeseries|all] [options]   (default: all)

  --variant auto|timescale|plain   time-series schema flavour (default auto: TimescaleDB when available)
  --compress-after <interval>      TimescaleDB compression policy (default '7 days'; 'off' = none)
  --retain-for <interval>          TimescaleDB retention policy (default '365 days'; 'off' = keep forever)
  --chunk-interval <interval>      hypertable chunk size (default '1 day')

Databases: POSTGRES_HOST/PORT/DB/USER/PASSWORD (registry) and TIMESCALE_HOST/PORT/DB/USER/PASSWORD
(time series), as each database's owner (iot_user, ts_user); passwords have no default. Every run
ends by granting the service roles their rights (src/storage/roles.ts). TIMESCALE_COMPRESS_AFTER and TIMESCALE_RETAIN_FOR supply the policy defaults.
Intervals are read when the migration that creates a policy is applied, not afterwards.
`

function summary (r: MigrateReport): string {
  const applied = r.applied.map(m => `${m.version}_${m.name}`).join(', ')
  return `${r.target}${r.variant === null ? '' : ` (${r.variant})`}: ${r.applied.length} applied${applied === '' ? '' : ` [${applied}]`}, ${r.alreadyApplied} already applied`
}

/** `migrate [registry|timeseries|all]`: returns the exit code (0 ok, 1 failed, 2 usage). */
export async function run (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        variant: { type: 'string' },
        'compress-after': { type: 'string' },
        'retain-for': { type: 'string' },
        'chunk-interval': { type: 'string' },
        help: { type: 'boolean', short: 'h' }
      }
    })
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) {
    process.stdout.write(USAGE)
    return 0
  }
  const which = positionals[0] ?? 'all'
  const variant = values.variant ?? 'auto'
  if (positionals.length > 1 || !['registry', 'timeseries', 'all'].includes(which) || !['auto', 'timescale', 'plain'].includes(variant)) {
    process.stderr.write(USAGE)
    return 2
  }
  const settings: TimeseriesSettings = {}
  const compressAfter = values['compress-after'] ?? process.env.TIMESCALE_COMPRESS_AFTER
  const retainFor = values['retain-for'] ?? process.env.TIMESCALE_RETAIN_FOR
  if (compressAfter !== undefined) settings.compressAfter = compressAfter
  if (retainFor !== undefined) settings.retainFor = retainFor
  if (values['chunk-interval'] !== undefined) settings.chunkTimeInterval = values['chunk-interval']
  const targets: MigrationTarget[] = which === 'all' ? ['registry', 'timeseries'] : [which as MigrationTarget]
  for (const target of targets) {
    let where
    try {
      where = databaseFromEnv(target, target === 'registry' ? DB_ROLES.registry.owner : DB_ROLES.timeseries.owner)
    } catch (err) {
      process.stderr.write(`${isF2Error(err) ? `${err.code}: ` : ''}${(err as Error).message}\n`)
      return 1
    }
    const sql = connect(where, { max: 1, connect_timeout: 10, connection: { application_name: `f2-migrate-${target}` } })
    try {
      const report = await migrate(sql, target, { variant: variant as 'auto' | TimeseriesVariant, settings })
      process.stdout.write(`${summary(report)}\n`)
    } catch (err) {
      process.stderr.write(`${describeTarget(where)}: ${isF2Error(err) ? `${err.code}: ${err.message}` : (err as Error).message}\n`)
      return 1
    } finally {
      await sql.end({ timeout: 5 })
    }
  }
  return 0
}
