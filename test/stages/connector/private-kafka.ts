import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Admin } from '@platformatic/kafka'
import { stackPaths } from '../../../src/stack/config.ts'
import { newClusterId, renderServerProperties } from '../../../src/stack/kafka.ts'
import { javaBinary, kafkaLibsDir } from '../../../src/stack/provision.ts'

/**
 * A single-node KRaft broker of our own (temp data dir, its own ports), for tests that must
 * stop Kafka without disturbing the shared stack. Same jars and server.properties template.
 */
export interface PrivateKafka {
  bootstrap: string
  start: () => Promise<void>
  /** SIGKILL: an outage, not a shutdown. */
  kill: () => Promise<void>
  destroy: () => Promise<void>
}

export function privateKafka (port: number, controllerPort: number): PrivateKafka {
  const paths = stackPaths()
  const dir = mkdtempSync(join(tmpdir(), 'f2-private-kafka-'))
  const libs = kafkaLibsDir(paths)
  const java = javaBinary()
  const properties = join(dir, 'server.properties')
  writeFileSync(properties, renderServerProperties(readFileSync(join(paths.root, 'templates', 'kafka', 'server.properties'), 'utf8'), {
    KAFKA_PORT: port, CONTROLLER_PORT: controllerPort, DATA_DIR: join(dir, 'data'), KAFKA_PARTITIONS: 3
  }))
  const log4j = [`-Dlog4j2.configurationFile=${join(paths.root, 'templates', 'kafka', 'log4j2.yaml')}`, `-Dkafka.logs.dir=${join(dir, 'logs')}`]
  const format = spawnSync(java, ['-Xmx256m', ...log4j, '-cp', join(libs, '*'), 'kafka.tools.StorageTool', 'format', '-t', newClusterId(), '-c', properties], { encoding: 'utf8' })
  if (format.status !== 0) throw new Error(`kafka storage format failed: ${format.stderr}`)
  const bootstrap = `127.0.0.1:${port}`
  let child: ChildProcess | undefined

  const ready = async (): Promise<boolean> => {
    const admin = new Admin({ clientId: 'probe', bootstrapBrokers: [bootstrap], timeout: 2000, retries: 0 })
    try {
      return (await admin.metadata({ topics: [] })).brokers.size > 0
    } catch {
      return false
    } finally {
      await admin.close().catch(() => {})
    }
  }

  const stopChild = async (): Promise<void> => {
    const c = child
    child = undefined
    if (c === undefined || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise(resolve => c.once('exit', resolve))
    c.kill('SIGKILL')
    await exited
  }

  return {
    bootstrap,
    start: async () => {
      child = spawn(java, ['-Xms256m', '-Xmx512m', '-XX:+UseG1GC', ...log4j, '-cp', join(libs, '*'), 'kafka.Kafka', properties], { stdio: 'ignore' })
      const deadline = Date.now() + 90_000
      while (!(await ready())) {
        if (Date.now() > deadline) throw new Error('private Kafka did not start')
        await new Promise(resolve => setTimeout(resolve, 300))
      }
    },
    kill: stopChild,
    destroy: async () => {
      await stopChild()
      rmSync(dir, { recursive: true, force: true })
    }
  }
}
