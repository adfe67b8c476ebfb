import { readFileSync } from 'node:fs'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { run } from '../../../src/stack/commands/stack.ts'
import { createContext } from '../../../src/stack/context.ts'
import { brokerDynsecFile } from '../../../src/stack/mosquitto.ts'

/** `npm run stack -- simulated-accounts` against the running stack of the suite. */
describe('stack simulated-accounts', () => {
  const written: string[] = []
  afterEach(() => { vi.restoreAllMocks(); written.length = 0 })
  const capture = (): void => {
    const keep = (chunk: string | Uint8Array): boolean => { written.push(String(chunk)); return true }
    vi.spyOn(process.stdout, 'write').mockImplementation(keep)
    vi.spyOn(process.stderr, 'write').mockImplementation(keep)
  }

  it('refuses while the stack runs, leaving the broker\'s file as it is', async () => {
    const file = brokerDynsecFile(createContext().paths)
    const before = readFileSync(file, 'utf8')
    capture()
    expect(await run(['simulated-accounts', '--devices', '3', '--seed', '99'])).toBe(1)
    expect(written.join('')).toMatch(/the stack is running/)
    expect(readFileSync(file, 'utf8')).toBe(before)
  })

  it('gives its usage for a missing or bad fleet size', async () => {
    capture()
    expect(await run(['simulated-accounts'])).toBe(2)
    expect(await run(['simulated-accounts', '--devices', '0'])).toBe(2)
    expect(written.join('')).toMatch(/simulated-accounts --devices <n>/)
  })
})
