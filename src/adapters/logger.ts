import { pino, type Logger } from 'pino'

export type { Logger }

/**
 * JSON lines to stdout, one child per stage. Shipping logs is somebody else's job.
 * Per-message events belong at debug level; info is for lifecycle and periodic summaries.
 */
export function createLogger (service: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { service }, timestamp: pino.stdTimeFunctions.isoTime })
}
