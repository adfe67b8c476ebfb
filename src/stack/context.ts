import { mkdirSync } from 'node:fs'
import { createLogger } from '../adapters/logger.ts'
import type { StackContext } from './component.ts'
import { stackConfig, stackPaths } from './config.ts'

export function createContext (root?: string, level?: string): StackContext {
  const paths = stackPaths(root)
  for (const dir of [paths.logsDir, paths.runDir, paths.dataDir]) mkdirSync(dir, { recursive: true })
  return { cfg: stackConfig(process.env, paths), paths, logger: createLogger('stack', level) }
}
