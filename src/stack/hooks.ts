import type { Logger } from '../adapters/logger.ts'
import { migrateAll } from '../storage/migrate.ts'
import { databaseUrl, type StackConfig } from './config.ts'

export interface PostStartContext {
  cfg: StackConfig
  logger: Logger
  /** Connection settings in the seed's variable names (see config.ts serviceEnv). */
  env: Record<string, string>
}

/**
 * Run in order by `npm start` and `npm test` once the infrastructure is up and before any
 * service starts. Each hook must be idempotent: it runs on every start, against a stack that
 * may have been up for days.
 */
export interface PostStartHook {
  name: string
  run: (ctx: PostStartContext) => Promise<void>
}

export const postStartHooks: PostStartHook[] = [
  {
    // Versioned and checksummed: a no-op on a database that is already up to date.
    name: 'migrations',
    run: async ({ cfg, logger }) => {
      const result = await migrateAll({ registry: databaseUrl(cfg.registry), timeseries: databaseUrl(cfg.timeseries), logger })
      logger.info({
        registry: result.registry.applied.length,
        timeseries: result.timeseries.applied.length,
        variant: result.timeseries.variant
      }, 'migrations applied')
    }
  }
]

export async function runPostStartHooks (ctx: PostStartContext, hooks: readonly PostStartHook[] = postStartHooks): Promise<void> {
  for (const hook of hooks) {
    const started = Date.now()
    await hook.run(ctx)
    ctx.logger.info({ hook: hook.name, ms: Date.now() - started }, 'post-start hook done')
  }
}
