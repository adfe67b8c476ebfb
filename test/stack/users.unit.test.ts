import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runs } from '../../src/stack/state.ts'
import { canTraverse } from '../../src/stack/users.ts'

let dir: string
// Neither the owner nor the group of anything created here.
const stranger = { name: 'stranger', uid: 54_321, gid: 54_321 }

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'f2-users-'))
  chmodSync(dir, 0o755)
})
afterEach(() => {
  chmodSync(dir, 0o755)
  rmSync(dir, { recursive: true, force: true })
})

describe('canTraverse', () => {
  it('is true when every parent has the x bit for others', () => {
    mkdirSync(join(dir, 'a'), { mode: 0o755 })
    expect(canTraverse(join(dir, 'a', 'data'), stranger)).toBe(true)
  })

  it('is false when a parent is closed to others', () => {
    mkdirSync(join(dir, 'private'), { mode: 0o700 })
    chmodSync(join(dir, 'private'), 0o700)
    expect(canTraverse(join(dir, 'private', 'data'), stranger)).toBe(false)
  })

  it('treats directories that do not exist yet as passable (they are created 0755)', () => {
    expect(canTraverse(join(dir, 'not', 'yet', 'there'), stranger)).toBe(true)
  })
})

describe('runs', () => {
  it('recognises a live pid by its executable, and nothing else', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' })
    try {
      expect(runs(child.pid!, process.execPath)).toBe(true)
      expect(runs(child.pid!, '/usr/bin/false')).toBe(false)
    } finally {
      child.kill('SIGKILL')
      await once(child, 'exit')
    }
    expect(runs(child.pid!, process.execPath)).toBe(false)
  })
})
