import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Component } from './component.ts'
import { httpOk, waitUntil } from './wait.ts'

/** The native variant of the project's Prometheus config: same jobs, targets on 127.0.0.1. */
export const nativeConfigPath = (root: string): string => join(root, 'monitoring', 'prometheus', 'prometheus.native.yml')

/**
 * The config Prometheus runs with: the native variant with every 127.0.0.1 target shifted by
 * the stack's port offset, and rule files resolved against monitoring/prometheus/ (the
 * rendered copy lives under .stack/run/).
 */
export function renderNativeConfig (source: string, configDir: string, portOffset: number): string {
  return source
    .replace(/127\.0\.0\.1:(\d+)/g, (_m, port: string) => `127.0.0.1:${Number(port) + portOffset}`)
    .replace(/^(\s*-\s*')(rules\/[^']*)'/gm, (_m, lead: string, rel: string) => `${lead}${join(configDir, rel)}'`)
}

export function prometheusComponent (): Component {
  return {
    name: 'prometheus',
    ports: cfg => [cfg.prometheusPort],
    async prepare (ctx) {
      const data = join(ctx.paths.dataDir, 'prometheus')
      mkdirSync(data, { recursive: true })
      const url = `http://127.0.0.1:${ctx.cfg.prometheusPort}`
      const source = nativeConfigPath(ctx.paths.root)
      const config = join(ctx.paths.runDir, 'prometheus.yml')
      writeFileSync(config, renderNativeConfig(readFileSync(source, 'utf8'), dirname(source), ctx.cfg.portOffset))
      return {
        name: 'prometheus',
        command: '/usr/bin/prometheus',
        args: [
          `--config.file=${config}`,
          `--storage.tsdb.path=${data}`,
          '--storage.tsdb.retention.time=7d',
          // No --web.enable-lifecycle: any local process could otherwise stop Prometheus or
          // make it drop its config over HTTP. Rules and config reload on SIGHUP.
          `--web.listen-address=127.0.0.1:${ctx.cfg.prometheusPort}`
        ],
        cwd: data,
        logFile: join(ctx.paths.logsDir, 'prometheus.log'),
        ready: signal => waitUntil('Prometheus to be ready', () => httpOk(`${url}/-/ready`), { timeoutMs: 60_000, intervalMs: 300, signal })
      }
    }
  }
}
