import { redact } from '../../adapters/config.ts'
import { runService } from '../../adapters/lifecycle.ts'
import { createLogger } from '../../adapters/logger.ts'
import { loadApiConfig } from './config.ts'
import { createApiService } from './service.ts'

/** `node src/cli.ts api`: serves the read API until SIGINT/SIGTERM. */
export async function run (_argv: string[]): Promise<number> {
  const logger = createLogger('api')
  const config = loadApiConfig()
  logger.info({ config: redact(config) }, 'api configuration')
  return runService(createApiService(config, logger), { name: 'api', logger, stopDeadlineMs: 5000 })
}
