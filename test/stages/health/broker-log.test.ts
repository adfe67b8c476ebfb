import { join } from 'node:path'
import mqtt from 'mqtt'
import { describe, expect, it } from 'vitest'
import { createLogger } from '../../../src/adapters/logger.ts'
import { Counter, createRegistry } from '../../../src/adapters/metrics.ts'
import { stackPaths } from '../../../src/stack/config.ts'
import { brokerLogWatcher } from '../../../src/stages/health/broker-log.ts'
import { stackBroker } from '../../../harness/broker.ts'

/**
 * Against the stack's broker and the log the supervisor writes for it: refused connections
 * are counted with the address they came from, and the counter is the one the monitor serves.
 */
describe('broker refusals from the broker log', () => {
  it('counts a refused CONNECT and a certificate the broker does not accept, with their address', async () => {
    const registry = createRegistry('health')
    const refusals = new Counter({ name: 'f2_health_broker_refusals_total', help: 'x', labelNames: ['kind'] as const, registers: [registry] })
    const watcher = brokerLogWatcher({ file: join(stackPaths().logsDir, 'mosquitto.log'), refusals, logger: createLogger('health', 'silent') })
    await watcher.readNow()
    const broker = stackBroker()
    const attempt = async (url: string, options: mqtt.IClientOptions): Promise<void> => {
      await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...options }).then(c => c.endAsync(), () => {})
    }
    await attempt(broker.url, { username: 'nobody', password: 'wrong' })
    await attempt(broker.mqttsUrl, { ca: broker.ca })
    // The supervisor appends the broker's stderr to the file as it comes.
    const until = Date.now() + 10_000
    while (Date.now() < until) {
      await watcher.readNow()
      const s = watcher.snapshot()
      if (s.counts.auth_failed >= 1 && s.counts.tls_failed >= 1) break
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    const s = watcher.snapshot()
    expect(s.counts.auth_failed).toBeGreaterThanOrEqual(1)
    expect(s.counts.tls_failed).toBeGreaterThanOrEqual(1)
    const auth = s.recent.find(e => e.kind === 'auth_failed')
    expect(auth?.address).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(auth?.port).toBe(Number(new URL(broker.url).port))
    expect(s.recent.find(e => e.kind === 'tls_failed')?.port).toBe(Number(new URL(broker.mqttsUrl).port))
    expect(await registry.getSingleMetricAsString('f2_health_broker_refusals_total')).toMatch(/kind="auth_failed",service="health"} [1-9]/)
  })
})
