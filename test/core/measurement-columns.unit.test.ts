import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { MEASUREMENT_COLUMN_SPECS, type ColumnSpec } from '../../src/core/measurement-columns.ts'

// The field table of docs/architecture/data-models.md, checked against the one declaration of
// the measurement's columns: a field added, renamed, aliased or given another default there
// fails here until the table says so too.
const doc = readFileSync(new URL('../../docs/architecture/data-models.md', import.meta.url), 'utf8')
const section = doc.slice(doc.indexOf('## Measurement'), doc.indexOf('### Label table'))
const rows = section.split('\n')
  .filter(line => /^\| `[a-z_]+` \|/.test(line))
  .map(line => {
    const [name, type, input, fallback] = line.slice(1, -1).split(/(?<!\\)\|/).map(cell => cell.trim())
    return { name: (name ?? '').replace(/`/g, ''), type: type ?? '', input: input ?? '', fallback: fallback ?? '' }
  })
const specs: readonly ColumnSpec[] = MEASUREMENT_COLUMN_SPECS

describe('the measurement field table in docs/architecture/data-models.md', () => {
  it('lists every declared field, in column order, and nothing else', () => {
    expect(rows.map(r => r.name)).toEqual(specs.map(s => s.name))
  })

  it.each(specs.map(s => [s.name, s] as const))('%s: nullability, alias and default as declared', (name, spec) => {
    const row = rows.find(r => r.name === name)
    expect(row, `no row for ${name}`).toBeDefined()
    if (row === undefined) return
    expect(row.type.includes('\\| null'), `${name}: the type says whether it admits null`).toBe(spec.nullable)
    if (spec.alias === undefined) expect(row.input).not.toMatch(/alias/)
    else expect(row.input).toContain(`alias \`${spec.alias}\``)
    if (spec.nullable) expect(row.fallback).toBe('null')
    else if (spec.default === undefined) expect(row.fallback).toMatch(/^required/)
    else expect(row.fallback).toBe(spec.default === '' ? "`''`" : `\`${String(spec.default)}\``)
  })
})
