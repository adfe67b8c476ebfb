import type postgres from 'postgres'

/**
 * The smallest database surface the migration runner needs, so one runner serves a
 * postgres.js connection and an in-process PGlite alike. Both calls run on ONE session
 * (session settings, advisory locks and explicit BEGIN/COMMIT carry across calls).
 */
export interface QueryRunner {
  /** One statement, with $1… parameters; resolves to its rows. */
  query<T extends Record<string, unknown> = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>
  /** Any number of statements separated by ';' (simple query protocol), no parameters. */
  exec(text: string): Promise<void>
}

/** The part of PGlite's interface the adapter uses (structural, so PGlite stays a dev dependency). */
export interface PGliteLike {
  query<T>(text: string, params?: unknown[]): Promise<{ rows: T[] }>
  exec(text: string): Promise<unknown>
}

/** Adapts a reserved postgres.js connection (or a pool of max 1). */
export function postgresRunner (conn: postgres.ReservedSql | postgres.Sql): QueryRunner {
  return {
    async query<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
      const rows = await conn.unsafe(text, params as postgres.ParameterOrJSON<never>[])
      return [...rows] as unknown as T[]
    },
    async exec (text: string): Promise<void> {
      await conn.unsafe(text).simple()
    }
  }
}

/** Adapts an in-process PGlite instance (single session by nature). */
export function pgliteRunner (db: PGliteLike): QueryRunner {
  return {
    async query<T extends Record<string, unknown>>(text: string, params: unknown[] = []): Promise<T[]> {
      return (await db.query<T>(text, params)).rows
    },
    async exec (text: string): Promise<void> {
      await db.exec(text)
    }
  }
}

/** True for a postgres.js `sql` instance (as opposed to a QueryRunner). */
export function isPostgresSql (value: unknown): value is postgres.Sql {
  return typeof value === 'function' && typeof (value as { reserve?: unknown }).reserve === 'function'
}
