import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import postgres from 'postgres'
import { describe, expect, it } from 'vitest'
import { projectRoot } from '../../src/stack/config.ts'
import { stackEnv, stackRolePassword } from '../../harness/stack.ts'

/**
 * Against the running stack: the `db` command hands out working connection settings with the
 * generated passwords, and a service started by hand without a password stops at start-up
 * with a configuration error instead of trying a default one.
 */

const run = promisify(execFile)
const root = projectRoot()
const cli = join(root, 'src', 'cli.ts')
/** Only what locates the stack: no credentials from the test runner's environment. */
const bare = (): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, HOME: process.env.HOME, F2_STACK_PORT_OFFSET: process.env.F2_STACK_PORT_OFFSET ?? '0' })

async function cliOut (args: string[], env: NodeJS.ProcessEnv = bare()): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args], { cwd: root, env, timeout: 30_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code?: number, stdout?: string, stderr?: string }
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' }
  }
}

async function whoAmI (url: string): Promise<string> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, connect_timeout: 5 })
  try {
    const [row] = await sql<Array<{ u: string }>>`SELECT current_user AS u`
    return row?.u ?? ''
  } finally {
    await sql.end({ timeout: 1 })
  }
}

describe('db command', { timeout: 60_000 }, () => {
  it('`db url timeseries` is the read-only role on the stack\'s time-series server, with its generated password', async () => {
    const { code, stdout } = await cliOut(['db', 'url', 'timeseries'])
    expect(code).toBe(0)
    const url = new URL(stdout.trim())
    expect(url.port).toBe(new URL(stackEnv().timeseriesUrl).port)
    expect(url.username).toBe('ts_reader')
    expect(decodeURIComponent(url.password)).toBe(stackRolePassword('timeseries', 'reader'))
    expect(await whoAmI(url.toString())).toBe('ts_reader')
  })

  it('`db env registry` exports the owner\'s settings in the seed\'s names', async () => {
    const { code, stdout } = await cliOut(['db', 'env', 'registry'])
    expect(code).toBe(0)
    const env = Object.fromEntries([...stdout.matchAll(/^export (\w+)=(?:'([^']*)'|(\S*))$/gm)].map(m => [m[1], m[2] ?? m[3]]))
    expect(Object.keys(env).sort()).toEqual(['POSTGRES_DB', 'POSTGRES_HOST', 'POSTGRES_PASSWORD', 'POSTGRES_PORT', 'POSTGRES_USER'])
    expect(env.POSTGRES_USER).toBe('iot_user')
    expect(await whoAmI(`postgres://iot_user:${encodeURIComponent(env.POSTGRES_PASSWORD ?? '')}@${env.POSTGRES_HOST}:${env.POSTGRES_PORT}/${env.POSTGRES_DB}`)).toBe('iot_user')
    // …which is what the registry CLI needs when run by hand.
    const list = await cliOut(['registry', 'list', '--json'], { ...bare(), ...env })
    expect(list.code, list.stderr).toBe(0)
    expect(JSON.parse(list.stdout)).toHaveProperty('controllers')
  })

  it('refuses roles a database does not have', async () => {
    const { code, stderr } = await cliOut(['db', 'url', 'registry', '--role', 'sink'])
    expect(code).toBe(2)
    expect(stderr).toMatch(/registry has no role 'sink'/)
  })
})

describe('a service started by hand without a password', { timeout: 60_000 }, () => {
  it.each([
    [['sink'], /TIMESCALE_PASSWORD: required/],
    [['processor'], /POSTGRES_PASSWORD: required/],
    [['health'], /POSTGRES_PASSWORD: required[\s\S]*TIMESCALE_PASSWORD: required/],
    [['simulator'], /POSTGRES_PASSWORD: required/],
    [['registry', 'list'], /POSTGRES_PASSWORD: required/],
    [['migrate', 'timeseries'], /TIMESCALE_PASSWORD: required/],
    [['token', 'list'], /POSTGRES_PASSWORD: required/]
  ])('%j stops at start-up with F2_CONFIG_INVALID', async (args, message) => {
    const { code, stderr } = await cliOut(args)
    expect(code).toBe(1)
    expect(stderr).toMatch(/F2_CONFIG_INVALID/)
    expect(stderr).toMatch(message)
    expect(stderr).not.toMatch(/^\s+at /m)
  })
})
