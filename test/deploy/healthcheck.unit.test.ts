import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ROOT } from './compose.ts'

// The image's HEALTHCHECK script, run as Docker runs it: a separate process that reads the
// container's command line and asks the service's HTTP endpoint on 127.0.0.1.
const SCRIPT = join(ROOT, 'deploy', 'healthcheck.mjs')

let dir: string
let server: Server
let port: number
let readyStatus = 200

function check (command: string[], env: Record<string, string>, path = 'healthz'): Promise<{ code: number | null, stderr: string }> {
  const cmdline = join(dir, `cmdline-${Math.random().toString(36).slice(2)}`)
  writeFileSync(cmdline, `${['/usr/bin/tini', '--', 'node', 'dist/cli.js', ...command].join('\0')}\0`)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT, path, cmdline], { env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
    child.on('error', reject)
    child.on('close', code => resolve({ code, stderr }))
  })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'f2-healthcheck-'))
  server = createServer((req, res) => {
    res.statusCode = req.url === '/healthz' ? 200 : req.url === '/readyz' ? readyStatus : 404
    res.end()
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  port = (server.address() as AddressInfo).port
})

afterAll(async () => {
  await new Promise(resolve => server.close(resolve))
  rmSync(dir, { recursive: true, force: true })
})

describe('deploy/healthcheck.mjs', { timeout: 20_000 }, () => {
  it('is healthy when the stage answers on its HTTP_PORT', async () => {
    expect((await check(['sink'], { HTTP_PORT: String(port) })).code).toBe(0)
  })

  it('reads HEALTH_PORT for the health monitor, not HTTP_PORT', async () => {
    expect((await check(['health'], { HEALTH_PORT: String(port), HTTP_PORT: '1' })).code).toBe(0)
    expect((await check(['health'], { HEALTH_PORT: '1', HTTP_PORT: String(port) })).code).toBe(1)
  })

  it('probes the path it is given, and fails on a non-2xx answer', async () => {
    readyStatus = 503
    const down = await check(['processor'], { HTTP_PORT: String(port) }, 'readyz')
    expect(down.code).toBe(1)
    expect(down.stderr).toContain('HTTP 503')
    readyStatus = 200
    expect((await check(['processor'], { HTTP_PORT: String(port) }, 'readyz')).code).toBe(0)
  })

  it('is unhealthy when nothing listens', async () => {
    const closed = createServer()
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
    const freePort = (closed.address() as AddressInfo).port
    await new Promise(resolve => closed.close(resolve))
    expect((await check(['connector'], { HTTP_PORT: String(freePort) })).code).toBe(1)
  })

  it('counts one-shot commands as healthy', async () => {
    expect((await check(['migrate', 'all'], {})).code).toBe(0)
  })
})
