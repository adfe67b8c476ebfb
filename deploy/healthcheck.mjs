#!/usr/bin/env node
/* global process, fetch, AbortSignal */
// The image's HEALTHCHECK, one script for every service the image runs:
//   node deploy/healthcheck.mjs [healthz|readyz] [cmdline-file]
// It asks the service's own HTTP endpoint on 127.0.0.1. The port is the service's own setting
// (HEALTH_PORT for the health monitor, HTTP_PORT for the stages) or else its default; which
// service runs is read from the container's command line (/proc/1/cmdline: tini -- node
// dist/cli.js <service>). One-shot commands (migrate, registry, replay) serve nothing and
// count as healthy while they run. Exit 0 = healthy, 1 = not.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** Default HTTP port of each long-running service (keep in step with src/stages/<name>/config.ts). */
export const DEFAULT_PORTS = Object.freeze({ simulator: 9401, connector: 9402, processor: 9403, sink: 9404, fleet: 9405, dispatcher: 9406, api: 8080, health: 8000 })

/** The command given to the CLI entry point (`dist/cli.js` or `src/cli.ts`), if any. */
export function commandOf (argv) {
  const at = argv.findIndex(arg => /(^|\/)cli\.(js|ts)$/.test(arg))
  return at < 0 ? undefined : argv[at + 1]
}

/** The URL to probe for `command`, or undefined when the command serves no HTTP. */
export function probeUrl (command, env, path = 'healthz') {
  if (command === undefined || !Object.hasOwn(DEFAULT_PORTS, command)) return undefined
  const own = command === 'health' ? env.HEALTH_PORT : env.HTTP_PORT
  const port = own === undefined || own === '' ? DEFAULT_PORTS[command] : Number(own)
  return `http://127.0.0.1:${port}/${path}`
}

async function main () {
  const path = process.argv[2] ?? 'healthz'
  const cmdline = readFileSync(process.argv[3] ?? '/proc/1/cmdline', 'utf8').split('\0').filter(s => s !== '')
  const url = probeUrl(commandOf(cmdline), process.env, path)
  if (url === undefined) return 0
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) })
    if (res.ok) return 0
    process.stderr.write(`${url}: HTTP ${res.status}\n`)
  } catch (err) {
    process.stderr.write(`${url}: ${err instanceof Error ? err.message : String(err)}\n`)
  }
  return 1
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main()
