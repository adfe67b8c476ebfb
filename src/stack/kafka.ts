import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Admin } from '@platformatic/kafka'
import { stackKafkaBootstrap } from '../adapters/connections/kafka.ts'
import { KAFKA_MESSAGE_MAX_BYTES } from '../adapters/kafka.ts'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import type { Component, StackContext } from './component.ts'
import type { StackConfig } from './config.ts'
import { javaBinary, kafkaLibsDir } from './provision.ts'
import { templatePath } from './templates.ts'
import { waitUntil } from './wait.ts'

/** Fills the template's placeholders; the broker's record limit is the stages' (KAFKA_MESSAGE_MAX_BYTES). */
export function renderServerProperties (template: string, given: Record<string, string | number>): string {
  const values: Record<string, string | number> = { MESSAGE_MAX_BYTES: KAFKA_MESSAGE_MAX_BYTES, ...given }
  return template.replace(/\$\{([A-Z_]+)\}/g, (whole, key: string) => {
    const value = values[key]
    if (value === undefined) throw new F2Error(ErrorCodes.STACK_START_FAILED, `templates/kafka/server.properties uses unknown placeholder ${whole}`)
    return String(value)
  })
}

/**
 * A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (what `kafka-storage
 * random-uuid` prints). Like Kafka's own Uuid.randomUuid(), never one that starts with '-': the
 * storage tool would read it as an option (1 id in 64 did, and formatting failed).
 */
export function newClusterId (random: (size: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url')
    if (!id.startsWith('-')) return id
  }
}

async function withAdmin<T> (cfg: StackConfig, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin({ clientId: 'f2-stack', bootstrapBrokers: [stackKafkaBootstrap(cfg.portOffset)], timeout: 5_000, retries: 0 })
  try {
    return await fn(admin)
  } finally {
    await admin.close()
  }
}

/** Ready means the broker answers a metadata request and has registered itself. */
export async function kafkaBrokerUp (cfg: StackConfig): Promise<boolean> {
  return withAdmin(cfg, async admin => (await admin.metadata({ topics: [] })).brokers.size > 0)
}

/**
 * Settings of a compacted topic (the latest record per key, e.g. device_state): segments roll
 * every 10 minutes or 64 MiB so the cleaner can compact them; records are kept while their key
 * has no newer one. The same values are in deploy/kafka/create-topics.sh.
 */
export const COMPACTED_TOPIC_CONFIGS: ReadonlyArray<{ name: string, value: string }> = [
  { name: 'cleanup.policy', value: 'compact' },
  { name: 'segment.ms', value: '600000' },
  { name: 'segment.bytes', value: '67108864' },
  { name: 'min.cleanable.dirty.ratio', value: '0.5' }
]

/** Creates the pipeline's topics that do not exist yet; existing topics are left as they are. */
export async function ensureTopics (cfg: StackConfig, topics: readonly string[], partitions: number, compacted: readonly string[] = []): Promise<string[]> {
  return withAdmin(cfg, async admin => {
    const existing = new Set(await admin.listTopics())
    const missing = topics.filter(t => !existing.has(t))
    if (missing.length > 0) await admin.createTopics({ topics: missing, partitions, replicas: 1 })
    const missingCompacted = compacted.filter(t => !existing.has(t))
    if (missingCompacted.length > 0) await admin.createTopics({ topics: missingCompacted, partitions, replicas: 1, configs: [...COMPACTED_TOPIC_CONFIGS] })
    return [...missing, ...missingCompacted]
  })
}

export function kafkaComponent (): Component {
  const dirs = (ctx: StackContext): { run: string, data: string, logs: string } => ({
    run: join(ctx.paths.runDir, 'kafka'),
    data: join(ctx.paths.dataDir, 'kafka'),
    logs: join(ctx.paths.logsDir, 'kafka')
  })
  return {
    name: 'kafka',
    ports: cfg => [cfg.kafkaPort, cfg.kafkaControllerPort, cfg.jmxExporterPort],
    async prepare (ctx) {
      const { cfg, paths } = ctx
      const { run, data, logs } = dirs(ctx)
      for (const dir of [run, data, logs]) mkdirSync(dir, { recursive: true })
      const libs = kafkaLibsDir(paths)
      const java = javaBinary()
      const template = readFileSync(templatePath(paths.root, 'kafka', 'server.properties'), 'utf8')
      const properties = join(run, 'server.properties')
      writeFileSync(properties, renderServerProperties(template, {
        KAFKA_PORT: cfg.kafkaPort, CONTROLLER_PORT: cfg.kafkaControllerPort, DATA_DIR: data, KAFKA_PARTITIONS: cfg.kafkaPartitions
      }))
      const log4j = [`-Dlog4j2.configurationFile=${templatePath(paths.root, 'kafka', 'log4j2.yaml')}`, `-Dkafka.logs.dir=${logs}`]
      if (!existsSync(join(data, 'meta.properties'))) {
        const clusterId = newClusterId()
        ctx.logger.info({ process: 'kafka', data, clusterId }, 'formatting KRaft storage')
        const out = spawnSync(java, ['-Xmx256m', ...log4j, '-cp', join(libs, '*'), 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', properties], { encoding: 'utf8' })
        if (out.status !== 0) throw new F2Error(ErrorCodes.STACK_START_FAILED, `formatting Kafka storage failed: ${out.stdout}${out.stderr}`)
      }
      const agent = join(libs, 'jmx_prometheus_javaagent-1.0.1.jar')
      return {
        name: 'kafka',
        command: java,
        args: [
          `-Xms${Math.min(256, cfg.kafkaHeapMb)}m`, `-Xmx${cfg.kafkaHeapMb}m`,
          '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:+ExitOnOutOfMemoryError',
          '-Djava.awt.headless=true',
          `-javaagent:${agent}=127.0.0.1:${cfg.jmxExporterPort}:${templatePath(paths.root, 'kafka', 'jmx-exporter.yml')}`,
          ...log4j,
          '-cp', join(libs, '*'),
          'kafka.Kafka', properties
        ],
        cwd: run,
        logFile: join(logs, 'stdout.log'),
        ready: signal => waitUntil('Kafka to answer metadata requests', () => kafkaBrokerUp(cfg), { timeoutMs: 90_000, intervalMs: 500, signal })
      }
    },
    async afterReady (ctx) {
      const created = await ensureTopics(ctx.cfg, ctx.cfg.topics, ctx.cfg.kafkaPartitions, ctx.cfg.compactedTopics)
      if (created.length > 0) ctx.logger.info({ topics: created, partitions: ctx.cfg.kafkaPartitions }, 'created Kafka topics')
    }
  }
}
