import { redact } from '../../adapters/config.ts'
import { runService } from '../../adapters/lifecycle.ts'
import { createLogger } from '../../adapters/logger.ts'
import { loadDispatcherConfig } from './config.ts'
import { createDispatcher } from './service.ts'

/** `node src/cli.ts dispatcher`: publishes accepted commands to the controllers until SIGINT/SIGTERM. */
export async function run (_argv: string[]): Promise<number> {
  const logger = createLogger('dispatcher')
  const config = loadDispatcherConfig()
  logger.info({ config: redact(config) }, 'dispatcher configuration')
  return runService(createDispatcher(config, logger), { name: 'dispatcher', logger, stopDeadlineMs: 5000 })
}
