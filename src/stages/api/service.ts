import { readFileSync } from 'node:fs'
import { startHttp, type HttpHandle } from '../../adapters/http.ts'
import { buildRecord, createProducer, produce, type KafkaProducer } from '../../adapters/kafka.ts'
import { ErrorCodes, F2Error } from '../../core/errors.ts'
import type { Service } from '../../adapters/lifecycle.ts'
import type { Logger } from '../../adapters/logger.ts'
import { connect } from '../../storage/connection.ts'
import { postgresRunner } from '../../storage/query-runner.ts'
import { createAuthenticator } from './auth.ts'
import { CommandStore } from './command-store.ts'
import type { ApiConfig } from './config.ts'
import { createApiMetrics, type ApiMetrics } from './metrics.ts'
import { createFleetReader } from './reader.ts'
import { apiRoutes } from './routes.ts'
import { TokenStore } from './token-store.ts'

/** The OpenAPI document, next to the docs (the image copies it to the same place). */
export const OPENAPI_PATH = new URL('../../../docs/api/openapi.json', import.meta.url)

export interface ApiService extends Service {
  metrics: ApiMetrics
  /** The bound port once started (0 in the config means any free port). */
  port: () => number
}

/**
 * The API: JSON (and CSV) over HTTP on one port with /healthz, /readyz and /metrics.
 * It reads device_state, device_state_events, dead_letters, iot_measurements and
 * iot_hourly_stats from the time-series database, the wiring and api_tokens from the registry,
 * and writes only api_tokens.last_used_at and, for cloud-to-device commands, the accepted
 * command with its first event and audit row. Ready while both databases answer.
 */
export function createApiService (config: Readonly<ApiConfig>, logger: Logger): ApiService {
  const metrics = createApiMetrics()
  const options = (app: string) => ({
    max: config.poolSize,
    connect_timeout: 5,
    idle_timeout: 60,
    connection: { application_name: app, statement_timeout: config.queryTimeoutMs }
  })
  const timeseries = connect(config.timeseries, options('f2-api'))
  const registry = connect(config.registry, options('f2-api'))
  const tokens = new TokenStore(registry)
  const openapi = readFileSync(OPENAPI_PATH)
  const checks = { timeseries: false, registry: false }
  let producer: KafkaProducer | undefined
  // Connects at the first command: reading needs no Kafka.
  const queue = async (command: Record<string, unknown>): Promise<void> => {
    producer ??= createProducer({ clientId: 'f2-api', bootstrapBrokers: config.kafkaBrokers, requestTimeoutMs: 5000, retries: 2 })
    const mac = String(command.mac)
    try {
      await produce(producer, [buildRecord(config.commandTopic, mac, Buffer.from(JSON.stringify({ command_id: command.command_id, mac }), 'utf8'))])
    } catch (err) {
      throw new F2Error(ErrorCodes.KAFKA_UNAVAILABLE, 'the command was recorded but could not be queued; it expires unsent', { cause: err, retryable: true, details: { command_id: command.command_id } })
    }
  }
  let pinger: NodeJS.Timeout | undefined
  let http: HttpHandle | undefined

  const ping = async (): Promise<void> => {
    const ok = async (sql: typeof timeseries): Promise<boolean> => { try { await sql`SELECT 1`; return true } catch { return false } }
    const [ts, reg] = await Promise.all([ok(timeseries), ok(registry)])
    if (ts !== checks.timeseries || reg !== checks.registry) logger.info({ timeseries: ts, registry: reg }, 'database reachability changed')
    checks.timeseries = ts
    checks.registry = reg
  }

  return {
    metrics,
    port: () => http?.port ?? config.httpPort,
    async start () {
      const authenticate = createAuthenticator(tokens, { onTouchError: err => logger.warn({ err }, 'could not record a token\'s last use') })
      http = await startHttp({
        host: config.httpHost,
        port: config.httpPort,
        registry: metrics.registry,
        readiness: () => ({ ready: checks.timeseries && checks.registry, checks: { ...checks } }),
        routes: apiRoutes({
          reader: createFleetReader(postgresRunner(timeseries), registry),
          authenticate,
          metrics,
          logger,
          openapi,
          commands: { book: new CommandStore(registry), queue, defaultTtlS: config.commandTtlS }
        })
      })
      await ping()
      pinger = setInterval(() => { void ping() }, 5000)
      pinger.unref()
      logger.info({ port: http.port, host: config.httpHost }, 'api serving')
    },
    async stop () {
      if (pinger !== undefined) clearInterval(pinger)
      await http?.close()
      await Promise.all([timeseries.end({ timeout: 2 }), registry.end({ timeout: 2 }), producer?.close()])
    }
  }
}
