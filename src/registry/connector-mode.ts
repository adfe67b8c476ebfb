import type postgres from 'postgres'
import { CONNECTOR_MODES, type ConnectorMode } from '../core/topic.ts'
import { checkConnector, checkMac, checkPin, invalidChange } from './admin-input.ts'
import { MAC_SQL } from './queries.ts'

export interface ConnectorModeInput {
  controller: string
  connector: number
  mode: string
  /** Positions that must exist on the connector (created unwired when missing; none removed). */
  positions: number[]
}

/**
 * Records the mode a connector works in (sql/registry/007_device_commands.sql, "Mode") and the
 * positions its parts sit at: what commands are checked against (a strike or reader needs an
 * access-control-mode connector, a siren an alarm-mode one, and the position). The connector
 * row is created when missing; pins are added, never removed. The controller must exist.
 * Takes the registry's write lock, as the other admin changes do.
 */
export async function setConnectorMode (sql: postgres.Sql, input: ConnectorModeInput): Promise<{ connectorId: number, pinsAdded: number }> {
  const mac = checkMac(input.controller)
  checkConnector(input.connector)
  for (const p of input.positions) checkPin(p)
  if (!(CONNECTOR_MODES as readonly string[]).includes(input.mode)) {
    throw invalidChange(`mode must be one of ${CONNECTOR_MODES.join(', ')}, got '${input.mode}'`, { mode: input.mode })
  }
  const mode = input.mode as ConnectorMode
  return await sql.begin(async tx => {
    await tx`SELECT pg_advisory_xact_lock(hashtext('f2:registry:write'))`
    const [controller] = await tx<Array<{ id: number | null }>>`SELECT min(c."DeviceId")::int AS id FROM "Device" c WHERE ${tx.unsafe(MAC_SQL)} = ${mac}`
    if (controller?.id == null) throw invalidChange(`no controller with MAC ${mac}`, { mac })
    await tx`
      INSERT INTO "Connector" ("ControllerId", "ConnectorNumber", "Mode")
      SELECT ${controller.id}, ${input.connector}, ${mode}
      WHERE NOT EXISTS (SELECT 1 FROM "Connector" x WHERE x."ControllerId" = ${controller.id} AND x."ConnectorNumber" = ${input.connector})`
    const [cn] = await tx<Array<{ id: number }>>`
      UPDATE "Connector" SET "Mode" = ${mode}
      WHERE "ConnectorId" = (SELECT min("ConnectorId") FROM "Connector" WHERE "ControllerId" = ${controller.id} AND "ConnectorNumber" = ${input.connector})
      RETURNING "ConnectorId"::int AS id`
    const id = (cn as { id: number }).id
    const added = await tx`
      INSERT INTO "Pin" ("ConnectorId", "Position")
      SELECT ${id}, p FROM unnest(${[...new Set(input.positions)]}::int[]) AS p
      WHERE NOT EXISTS (SELECT 1 FROM "Pin" x WHERE x."ConnectorId" = ${id} AND x."Position" = p)`
    return { connectorId: id, pinsAdded: added.count }
  })
}
