import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type postgres from 'postgres'

/** A COPY that did not settle in time: its transaction is rolled back, the caller decides what next. */
export class CopyNotSettled extends Error {}

/**
 * Runs `COPY … FROM STDIN` (`statement`) on `tx` with the text `chunks`; resolves when the
 * server has stored them, rejects with the server's error when it refuses them.
 *
 * postgres.js never settles the stream of a COPY the server refuses after all data was sent
 * (porsager/postgres#1173, fix pending in #1183): it hands the error to the query, whose
 * promise is long resolved (to the stream). The query's `reject` is wrapped to catch that
 * error. Should a later postgres.js change that internal, the deadline still bounds the wait
 * (CopyNotSettled; giving up rolls the transaction back and the connection is usable again).
 */
export async function copyIn (tx: postgres.TransactionSql, statement: string, chunks: Iterable<string>, timeoutMs: number): Promise<void> {
  const query = tx.unsafe(statement)
  let refuse: (err: unknown) => void = () => {}
  const refused = new Promise<never>((_resolve, reject) => { refuse = reject })
  refused.catch(() => {}) // settled after the race is over when the server also ended the stream
  const internal = query as unknown as { reject?: unknown }
  if (typeof internal.reject === 'function') {
    const settle = internal.reject as (err: unknown) => void
    internal.reject = (err: unknown) => { refuse(err); settle(err) }
  }
  const writable = await query.writable()
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new CopyNotSettled(`${statement.slice(0, 60)}… did not settle within ${timeoutMs} ms`)), timeoutMs)
  })
  try {
    await Promise.race([pipeline(Readable.from(chunks), writable), refused, deadline])
  } finally {
    clearTimeout(timer)
  }
}
