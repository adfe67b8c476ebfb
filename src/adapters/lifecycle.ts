import type { Logger } from './logger.ts'
import { isF2Error } from '../core/errors.ts'

/**
 * The lifecycle every stage shares (simulator, connector, processor, sink, health):
 * `start` connects and begins work; `stop` stops taking new work, finishes or hands back
 * what is in flight, and closes its clients, all within `deadlineMs`.
 */
export interface Service {
  start: () => Promise<void>
  stop: (deadlineMs: number) => Promise<void>
}

export interface RunOptions {
  name: string
  logger: Logger
  /** Time given to `stop` on SIGINT/SIGTERM before the process exits anyway. */
  stopDeadlineMs?: number
}

/**
 * Runs a service as the process's main job: starts it, stops it on SIGINT/SIGTERM within the
 * deadline, and exits non-zero on a fatal error so the supervisor (or compose) restarts it.
 * Nothing is acknowledged or committed by this function; stages own their delivery guarantees.
 */
export async function runService (service: Service, options: RunOptions): Promise<number> {
  const { logger, name } = options
  const deadline = options.stopDeadlineMs ?? 10_000
  let stopping: Promise<number> | undefined

  const stop = (reason: string, code: number): Promise<number> => {
    stopping ??= (async () => {
      logger.info({ reason }, `${name} stopping`)
      const timer = setTimeout(() => {
        logger.error({ deadlineMs: deadline }, `${name} did not stop within its deadline`)
        process.exit(code === 0 ? 1 : code)
      }, deadline + 1000)
      timer.unref()
      try {
        await service.stop(deadline)
        logger.info(`${name} stopped`)
        return code
      } catch (err) {
        logger.error({ err }, `${name} failed to stop cleanly`)
        return code === 0 ? 1 : code
      } finally {
        clearTimeout(timer)
      }
    })()
    return stopping
  }

  const done = new Promise<number>(resolve => {
    process.once('SIGINT', () => { void stop('SIGINT', 0).then(resolve) })
    process.once('SIGTERM', () => { void stop('SIGTERM', 0).then(resolve) })
    process.on('uncaughtException', err => {
      logger.fatal({ err, code: isF2Error(err) ? err.code : undefined }, `${name} crashed`)
      void stop('uncaughtException', 1).then(resolve)
    })
    process.on('unhandledRejection', err => {
      logger.fatal({ err }, `${name} crashed on an unhandled rejection`)
      void stop('unhandledRejection', 1).then(resolve)
    })
  })

  try {
    await service.start()
    logger.info(`${name} started`)
  } catch (err) {
    logger.fatal({ err, code: isF2Error(err) ? err.code : undefined }, `${name} failed to start`)
    await stop('start failed', 1)
    return 1
  }
  return done
}
