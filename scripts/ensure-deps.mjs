#!/usr/bin/env node
// Runs before `npm start` and `npm test` (prestart / pretest), on whatever Node the machine
// has (plain JavaScript, Node 20+). Installs node_modules with `npm ci` when they are missing
// or do not match package-lock.json; the Node 24 that runs the project comes from there.
/* global process, console */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const lockFile = join(root, 'package-lock.json')
// npm writes this "hidden lockfile" describing what it actually installed.
const installedFile = join(root, 'node_modules', '.package-lock.json')

function readJson (file) {
  try { return JSON.parse(readFileSync(file, 'utf8')) } catch { return undefined }
}

/** Why node_modules must be (re)installed, or undefined when it matches the lockfile. */
export function staleReason (lock, installed) {
  if (installed === undefined) return 'node_modules is missing'
  const wanted = lock?.packages ?? {}
  const have = installed.packages ?? {}
  for (const [path, entry] of Object.entries(wanted)) {
    if (path === '') continue
    const got = have[path]
    // Optional packages for other platforms are legitimately absent.
    if (got === undefined && entry.optional === true) continue
    if (got === undefined) return `${path} is not installed`
    if (got.version !== entry.version) return `${path} is ${got.version}, the lockfile wants ${entry.version}`
  }
  return undefined
}

function main () {
  if (!existsSync(lockFile)) {
    console.error('ensure-deps: package-lock.json is missing')
    return 1
  }
  const reason = staleReason(readJson(lockFile), existsSync(join(root, 'node_modules')) ? readJson(installedFile) : undefined)
  if (reason === undefined) return 0
  console.error(`ensure-deps: ${reason}; running npm ci`)
  const npm = process.env.npm_execpath
  // Prefer the npm that is running this script; fall back to the one on PATH.
  const result = npm !== undefined && npm.endsWith('.js')
    ? spawnSync(process.execPath, [npm, 'ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
    : spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) {
    console.error(`ensure-deps: npm ci failed (exit ${result.status ?? result.signal})`)
    return 1
  }
  const after = staleReason(readJson(lockFile), readJson(installedFile))
  if (after !== undefined) {
    console.error(`ensure-deps: still out of date after npm ci: ${after}`)
    return 1
  }
  return 0
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = main()
