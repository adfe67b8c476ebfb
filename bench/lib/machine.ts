import { execFileSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os'
import { join } from 'node:path'
import postgres from 'postgres'
import { ROOT, stackUrls } from './stack.ts'

/** The machine a report was measured on; every report carries it. */
export interface MachineInfo {
  date: string
  nproc: number
  cpuModel: string
  memoryGiB: number
  kernel: string
  node: string
  kafka: string
  postgres: string
  mosquitto: string
  loadAverage1m: number
}

function kafkaVersion (): string {
  try {
    const dir = join(ROOT, '.cache', 'kafka')
    const versions = readdirSync(dir)
    for (const v of versions) {
      const jar = readdirSync(join(dir, v, 'libs')).find(f => /^kafka_2\.\d+-[\d.]+\.jar$/.test(f))
      if (jar !== undefined) return jar.replace(/^kafka_2\.\d+-/, '').replace(/\.jar$/, '')
    }
    return versions.join(',')
  } catch {
    return 'unknown'
  }
}

function mosquittoVersion (): string {
  try {
    execFileSync('/usr/sbin/mosquitto', ['-h'], { encoding: 'utf8', stdio: 'pipe' })
  } catch (err) {
    const out = String((err as { stdout?: string }).stdout ?? '')
    const m = /mosquitto version ([\d.]+)/.exec(out)
    if (m !== null) return m[1] as string
  }
  return 'unknown'
}

export async function machineInfo (): Promise<MachineInfo> {
  let pg = 'unknown'
  const sql = postgres(stackUrls().timeseriesUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    pg = String((await sql`SELECT current_setting('server_version') AS v`)[0]?.v)
  } catch { /* reported as unknown */ } finally {
    await sql.end({ timeout: 1 }).catch(() => {})
  }
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30 * 10) / 10,
    kernel: release(),
    node: process.version,
    kafka: kafkaVersion(),
    postgres: pg,
    mosquitto: mosquittoVersion(),
    loadAverage1m: Math.round((loadavg()[0] ?? 0) * 100) / 100
  }
}

export function machineLine (m: MachineInfo): string {
  return `${m.nproc} cores (${m.cpuModel}), ${m.memoryGiB} GiB RAM, Linux ${m.kernel}, Node ${m.node}, Kafka ${m.kafka}, PostgreSQL ${m.postgres}, Mosquitto ${m.mosquitto}; load average before the run ${m.loadAverage1m}; ${m.date}`
}
