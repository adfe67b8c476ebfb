import { join } from 'node:path'
import type { Component } from './component.ts'
import type { DatabaseConfig, StackConfig } from './config.ts'
import { httpOk, waitUntil } from './wait.ts'

export function nodeExporterComponent (): Component {
  return {
    name: 'node-exporter',
    ports: cfg => [cfg.nodeExporterPort],
    async prepare (ctx) {
      const port = ctx.cfg.nodeExporterPort
      return {
        name: 'node-exporter',
        command: '/usr/bin/prometheus-node-exporter',
        args: [`--web.listen-address=127.0.0.1:${port}`],
        cwd: '/',
        logFile: join(ctx.paths.logsDir, 'node-exporter.log'),
        ready: signal => waitUntil('node exporter to serve metrics', () => httpOk(`http://127.0.0.1:${port}/metrics`), { timeoutMs: 30_000, intervalMs: 200, signal })
      }
    }
  }
}

/** One postgres exporter per database server, each with its own DATA_SOURCE_NAME, as the read-only role. */
export function postgresExporterComponent (name: string, pick: (cfg: StackConfig) => { db: DatabaseConfig, port: number }): Component {
  return {
    name,
    ports: cfg => [pick(cfg).port],
    async prepare (ctx) {
      const { db, port } = pick(ctx.cfg)
      const reader = db.roles.reader ?? db
      const auth = `${encodeURIComponent(reader.user)}:${encodeURIComponent(reader.password)}`
      return {
        name,
        command: '/usr/bin/prometheus-postgres-exporter',
        args: [`--web.listen-address=127.0.0.1:${port}`],
        env: { DATA_SOURCE_NAME: `postgresql://${auth}@127.0.0.1:${db.port}/${db.database}?sslmode=disable` },
        cwd: '/',
        logFile: join(ctx.paths.logsDir, `${name}.log`),
        ready: signal => waitUntil(`${name} to serve metrics`, () => httpOk(`http://127.0.0.1:${port}/metrics`), { timeoutMs: 30_000, intervalMs: 200, signal })
      }
    }
  }
}

export const registryExporter = (): Component =>
  postgresExporterComponent('postgres-exporter-registry', cfg => ({ db: cfg.registry, port: cfg.registryExporterPort }))
export const timeseriesExporter = (): Component =>
  postgresExporterComponent('postgres-exporter-timeseries', cfg => ({ db: cfg.timeseries, port: cfg.timeseriesExporterPort }))
