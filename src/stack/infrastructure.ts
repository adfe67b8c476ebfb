import type { Component, StackContext } from './component.ts'
import { registryExporter, nodeExporterComponent, timeseriesExporter } from './exporters.ts'
import { kafkaComponent } from './kafka.ts'
import { mosquittoComponent } from './mosquitto.ts'
import { assertPortsFree } from './ports.ts'
import { registryPostgres, timeseriesPostgres } from './postgres.ts'
import { prometheusComponent } from './prometheus.ts'
import type { Supervisor } from './supervisor.ts'

/** The infrastructure in start order; stopped in reverse (Prometheus first, PostgreSQL last). */
export function infrastructure (): Component[] {
  return [
    registryPostgres(),
    timeseriesPostgres(),
    mosquittoComponent(),
    kafkaComponent(),
    nodeExporterComponent(),
    registryExporter(),
    timeseriesExporter(),
    prometheusComponent()
  ]
}

/**
 * Starts each component under `supervisor`, one at a time: its ports must be free, it must
 * pass its readiness check, and its `afterReady` step must succeed before the next starts.
 * On failure the caller stops the supervisor (which ends whatever already runs).
 */
export async function bringUp (ctx: StackContext, supervisor: Supervisor, components = infrastructure()): Promise<void> {
  for (const component of components) {
    await assertPortsFree(component.name, component.ports(ctx.cfg))
    const started = Date.now()
    const spec = await component.prepare(ctx)
    await supervisor.start(spec)
    await component.afterReady?.(ctx)
    ctx.logger.info({ component: component.name, ms: Date.now() - started }, 'component up')
  }
}
