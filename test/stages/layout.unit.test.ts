import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const STAGES = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'stages')

function sources (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap(e => {
    const path = join(dir, e.name)
    return e.isDirectory() ? sources(path) : e.name.endsWith('.ts') ? [path] : []
  })
}

/** The stage (first folder under src/stages) a path lies in, or undefined outside them. */
function stageOf (path: string): string | undefined {
  const rel = relative(STAGES, path)
  return rel.startsWith('..') ? undefined : rel.split(sep)[0]
}

describe('stage layout', () => {
  it('no stage imports another stage: what two share lives in core, adapters, registry or storage', () => {
    const crossings: string[] = []
    for (const file of sources(STAGES)) {
      const own = stageOf(file)
      for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g)) {
        const target = stageOf(resolve(dirname(file), spec as string))
        if (target !== undefined && target !== own) crossings.push(`${relative(STAGES, file)} → ${spec}`)
      }
    }
    expect(crossings).toEqual([])
  })

  it('every stage has a thin main.ts and, where it runs a loop, a stage.ts with the shared lifecycle', () => {
    for (const stage of readdirSync(STAGES, { withFileTypes: true }).filter(e => e.isDirectory()).map(e => e.name)) {
      const main = readFileSync(join(STAGES, stage, 'main.ts'), 'utf8')
      expect(main, `${stage}/main.ts`).toMatch(/export async function run \(/)
      expect(main.split('\n').length, `${stage}/main.ts stays a set-up file`).toBeLessThan(120)
    }
    for (const stage of ['connector', 'processor', 'sink', 'fleet', 'simulator']) {
      expect(readFileSync(join(STAGES, stage, 'stage.ts'), 'utf8'), `${stage}/stage.ts`).toMatch(/class \w+Stage implements Service/)
    }
  })
})
