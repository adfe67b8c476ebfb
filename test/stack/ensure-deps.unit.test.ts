import { describe, expect, it } from 'vitest'
// @ts-expect-error plain JavaScript (it must run on the machine's Node 20), no type declarations
import { staleReason } from '../../scripts/ensure-deps.mjs'

const lock = {
  packages: {
    '': { name: 'f2' },
    'node_modules/a': { version: '1.0.0' },
    'node_modules/b-linux-arm64': { version: '2.0.0', optional: true }
  }
}

describe('ensure-deps staleReason', () => {
  it('asks for an install when node_modules is missing', () => {
    expect(staleReason(lock, undefined)).toMatch(/missing/)
  })

  it('accepts an install that matches the lockfile, skipping absent optional packages', () => {
    expect(staleReason(lock, { packages: { 'node_modules/a': { version: '1.0.0' } } })).toBeUndefined()
  })

  it('names a package with the wrong version or not installed', () => {
    expect(staleReason(lock, { packages: { 'node_modules/a': { version: '0.9.0' } } })).toMatch(/node_modules\/a is 0\.9\.0/)
    expect(staleReason(lock, { packages: {} })).toMatch(/node_modules\/a is not installed/)
  })
})
