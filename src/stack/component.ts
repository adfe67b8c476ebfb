import type { Logger } from '../adapters/logger.ts'
import type { StackConfig, StackPaths } from './config.ts'
import type { SupervisedSpec } from './supervisor.ts'

export interface StackContext {
  cfg: StackConfig
  paths: StackPaths
  logger: Logger
}

/**
 * One infrastructure part of the stack. `prepare` is idempotent (creates directories, renders
 * config, initialises storage once) and returns the process to supervise; `afterReady` runs
 * once the process passed its readiness check (roles, databases, topics) and is idempotent too.
 */
export interface Component {
  name: string
  /** TCP ports it listens on; each must be free before it starts. */
  ports: (cfg: StackConfig) => readonly number[]
  prepare: (ctx: StackContext) => Promise<SupervisedSpec>
  afterReady?: (ctx: StackContext) => Promise<void>
}
