import { Counter, createRegistry, Histogram, LATENCY_BUCKETS, type Registry } from '../../adapters/metrics.ts'

/** The read API's own series (docs/monitoring/metrics.md, "Read API"). */
export interface ApiMetrics {
  registry: Registry
  requests: Counter<'route' | 'status'>
  duration: Histogram<'route'>
  authFailures: Counter<'reason'>
  commands: Counter<'kind' | 'outcome'>
}

export function createApiMetrics (registry: Registry = createRegistry('api')): ApiMetrics {
  const registers = [registry]
  return {
    registry,
    requests: new Counter({ name: 'f2_api_requests_total', help: 'API requests answered, by route and HTTP status', labelNames: ['route', 'status'], registers }),
    duration: new Histogram({ name: 'f2_api_request_duration_seconds', help: 'Time to answer an API request, by route', labelNames: ['route'], buckets: LATENCY_BUCKETS, registers }),
    commands: new Counter({ name: 'f2_api_commands_total', help: 'Command requests that passed the token check, by kind and outcome (accepted, refused, error)', labelNames: ['kind', 'outcome'], registers }),
    authFailures: new Counter({ name: 'f2_api_auth_failures_total', help: 'Requests refused by token checks (missing, invalid, revoked, scope)', labelNames: ['reason'], registers })
  }
}
