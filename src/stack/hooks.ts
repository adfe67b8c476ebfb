import type { Logger } from '../adapters/logger.ts'
import type { StackConfig } from './config.ts'

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
  // Database migrations (src/storage/migrate.ts) are added here, first in the list.
]

export async function runPostStartHooks (ctx: PostStartContext, hooks: readonly PostStartHook[] = postStartHooks): Promise<void> {
  for (const hook of hooks) {
    const started = Date.now()
    await hook.run(ctx)
    ctx.logger.info({ hook: hook.name, ms: Date.now() - started }, 'post-start hook done')
  }
}
