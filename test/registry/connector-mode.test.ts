import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ErrorCodes, F2Error } from '../../src/core/errors.ts'
import { setConnectorMode } from '../../src/registry/connector-mode.ts'
import { CommandStore } from '../../src/stages/api/command-store.ts'
import { migratedDatabase, type MigratedDatabase } from '../storage/helpers.ts'

/** `registry set-connector` against real PostgreSQL: what the command checks then read back. */
let registry: MigratedDatabase
const MAC = 'abc123def456' // sample registry: J2 with a power monitor at pin 2

beforeAll(async () => { registry = await migratedDatabase('registry') })
afterAll(async () => { await registry?.drop() })

describe('setConnectorMode', () => {
  it('creates a connector with its mode and positions, adds positions, never removes one, and keeps wired sensors', async () => {
    const store = new CommandStore(registry.sql)
    expect(await setConnectorMode(registry.sql, { controller: 'AB:C1:23:DE:F4:56', connector: 3, mode: 'alarm-mode', positions: [1, 2, 2] })).toMatchObject({ pinsAdded: 2 })
    expect(await setConnectorMode(registry.sql, { controller: MAC, connector: 3, mode: 'access-control-mode', positions: [1] })).toMatchObject({ pinsAdded: 0 })
    expect(await setConnectorMode(registry.sql, { controller: MAC, connector: 2, mode: 'sensor-mode', positions: [] })).toMatchObject({ pinsAdded: 0 })
    expect(await store.wiring(MAC)).toEqual({
      connectors: [
        { number: 2, mode: 'sensor-mode', positions: [2] },
        { number: 3, mode: 'access-control-mode', positions: [1, 2] }
      ]
    })
    const [wired] = await registry.sql`SELECT count(*)::int AS n FROM "Pin" p JOIN "Connector" c USING ("ConnectorId") WHERE c."ConnectorNumber" = 2 AND p."DeviceId" IS NOT NULL`
    expect(wired?.n).toBe(1)
    expect(await store.wiring('0000000000ff')).toBeNull()
  })

  it.each([
    [{ controller: '0000000000ff', connector: 1, mode: 'alarm-mode', positions: [] }],
    [{ controller: MAC, connector: 6, mode: 'alarm-mode', positions: [] }],
    [{ controller: MAC, connector: 1, mode: 'door-mode', positions: [] }],
    [{ controller: MAC, connector: 1, mode: 'alarm-mode', positions: [0] }]
  ])('refuses %j', async input => {
    const err = await setConnectorMode(registry.sql, input).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(F2Error)
    expect((err as F2Error).code).toBe(ErrorCodes.REGISTRY_INVALID_CHANGE)
  })
})
