import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

/**
 * The import direction between the layers of src/, as each layer's README.md states it on its
 * "**May import:**" line (the README is the rule; this test holds the code to it):
 * backticked `src/...` names are the layers it may import; backticked names after "of packages
 * only" are the only packages it may import (otherwise any dependency of package.json). Besides: a stage never imports another stage,
 * only command entry points (`cli.ts`, `*-cli.ts`) and src/cli.ts import src/stack, and
 * nothing imports src/cli.ts.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const SRC = join(ROOT, 'src')
const LAYERS = ['core', 'adapters', 'storage', 'broker', 'registry', 'stages', 'stack'] as const
type Layer = typeof LAYERS[number]

/**
 * Imports that break a rule today and are on their way out, by importing file and target
 * (`src/a.ts -> src/b.ts`). None now; an entry that no longer matches anything is harmless.
 */
const KNOWN_EXCEPTIONS = new Set<string>([])

interface Rule { layers: Set<string>, packages: Set<string> | null }

function ruleOf (layer: Layer): Rule {
  const text = readFileSync(join(SRC, layer, 'README.md'), 'utf8')
  const paragraph = text.split(/\n\s*\n/).find(p => p.startsWith('**May import:**'))
  if (paragraph === undefined) throw new Error(`src/${layer}/README.md has no "**May import:**" paragraph`)
  const names = (text: string): string[] => [...text.matchAll(/`([^`]+)`/g)].map(m => m[1] as string)
  const layers = new Set(names(paragraph).filter(n => n.startsWith('src/')).map(n => n.slice('src/'.length)))
  const [, onlyPackages] = paragraph.split('of packages only')
  return { layers, packages: onlyPackages === undefined ? null : new Set(names(onlyPackages)) }
}

function sourceFiles (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return sourceFiles(path)
    return e.name.endsWith('.ts') ? [path] : []
  })
}

/** Every module specifier of a file: static imports and re-exports, and dynamic import(). */
function specifiers (source: string): string[] {
  const out: string[] = []
  for (const m of source.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm)) {
    out.push((m[1] ?? m[2] ?? m[3]) as string)
  }
  return out
}

/** `core`, `stages/processor`, `cli` …: where a path under src/ belongs. */
function placeOf (path: string): { layer: Layer | 'cli', stage?: string } {
  const [first, second] = relative(SRC, path).split('/')
  if (first === 'cli.ts') return { layer: 'cli' }
  if (!(LAYERS as readonly string[]).includes(first as string)) throw new Error(`${path}: not in a known layer of src/`)
  return first === 'stages' ? { layer: 'stages', stage: second as string } : { layer: first as Layer }
}

const isEntryPoint = (path: string): boolean => /(^|[/-])cli\.ts$/.test(path)

interface Edge { from: string, to: string, spec: string }

function edges (): Edge[] {
  return sourceFiles(SRC).flatMap(file => specifiers(readFileSync(file, 'utf8')).map(spec => ({
    from: relative(ROOT, file),
    to: spec.startsWith('.') ? relative(ROOT, resolve(dirname(file), spec)) : spec,
    spec
  })))
}

describe('layers of src/', () => {
  const all = edges()

  it('finds the imports it checks (the parser is not blind)', () => {
    expect(all.length).toBeGreaterThan(300)
    expect(all).toContainEqual(expect.objectContaining({ from: 'src/stages/sink/main.ts', to: 'src/stages/sink/stage.ts' }))
    expect(all.some(e => e.from === 'src/cli.ts' && e.to === 'src/stack/commands/start.ts')).toBe(true)
  })

  it.each(LAYERS)('src/%s imports only what its README.md allows', layer => {
    const rule = ruleOf(layer)
    const broken: string[] = []
    for (const e of all) {
      if (!e.from.startsWith(`src/${layer}/`)) continue
      const key = `${e.from} -> ${e.to}`
      if (KNOWN_EXCEPTIONS.has(key)) continue
      if (!e.spec.startsWith('.')) {
        if (rule.packages !== null && !rule.packages.has(e.spec)) broken.push(`${key} (package not allowed)`)
        continue
      }
      const from = placeOf(join(ROOT, e.from))
      const to = placeOf(join(ROOT, e.to))
      if (to.layer === 'cli') { broken.push(`${key} (nothing imports src/cli.ts)`); continue }
      if (to.layer === from.layer) {
        if (from.layer === 'stages' && to.stage !== from.stage) broken.push(`${key} (a stage never imports another stage)`)
        continue
      }
      if (rule.layers.has(to.layer)) continue
      broken.push(`${key} (src/${layer} may not import src/${to.layer})`)
    }
    expect(broken).toEqual([])
  })

  it('src/stack is imported only by src/cli.ts and command entry points', () => {
    const importers = all.filter(e => e.to.startsWith('src/stack/') && !e.from.startsWith('src/stack/')).map(e => e.from)
    expect(importers.filter(f => !isEntryPoint(f))).toEqual([])
  })
})
