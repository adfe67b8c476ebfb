import { randomUUID } from 'node:crypto'
import type postgres from 'postgres'
import { checkConnector, checkDataPoints, checkMac, checkPin, invalidChange, type TemplateInput } from './admin-input.ts'
import { MAC_SQL } from './queries.ts'

export type { DataPointInput, TemplateInput } from './admin-input.ts'

/**
 * Registry changes for operators (the `registry` command) and for programs (the
 * simulator registers its fleet). Each call is one transaction, serialised against the
 * other calls here by an advisory lock; the registry's triggers then notify every
 * RegistryStore. Invalid input throws F2Error F2_REGISTRY_INVALID_CHANGE before anything
 * is written.
 */

type Tx = postgres.TransactionSql
export const CONTROLLER_TEMPLATE = 'F2 Controller'

async function lock (tx: Tx): Promise<void> {
  await tx`SELECT pg_advisory_xact_lock(hashtext('f2:registry:write'))`
}

async function deviceTypeId (tx: Tx, name: string): Promise<number> {
  const [found] = await tx<{ id: number }[]>`SELECT min("DeviceTypeId")::int AS id FROM "DeviceType" WHERE "Name" = ${name}`
  if (found?.id != null) return found.id
  const [created] = await tx<{ id: number }[]>`INSERT INTO "DeviceType" ("Name") VALUES (${name}) RETURNING "DeviceTypeId"::int AS id`
  return (created as { id: number }).id
}

async function templateIds (tx: Tx, names: string[]): Promise<Map<string, number>> {
  const rows = await tx<{ name: string, id: number }[]>`
    SELECT "Name" AS name, min("DeviceTemplateId")::int AS id FROM "DeviceTemplate"
    WHERE "Name" IN ${tx(names)} GROUP BY "Name"`
  return new Map(rows.map(r => [r.name, r.id]))
}

async function controllerTemplateId (tx: Tx): Promise<number> {
  const id = (await templateIds(tx, [CONTROLLER_TEMPLATE])).get(CONTROLLER_TEMPLATE)
  if (id !== undefined) return id
  const typeId = await deviceTypeId(tx, 'Controller')
  const [row] = await tx<{ id: number }[]>`
    INSERT INTO "DeviceTemplate" ("Name", "Model", "Description", "DeviceTypeId")
    VALUES (${CONTROLLER_TEMPLATE}, 'F2', 'F2 Smart Controller', ${typeId}) RETURNING "DeviceTemplateId"::int AS id`
  return (row as { id: number }).id
}

async function writeTemplate (tx: Tx, input: TemplateInput, ifExists: 'error' | 'keep' | 'replace'): Promise<{ templateId: number, created: boolean }> {
  const dataPoints = checkDataPoints(input.dataPoints, input.name)
  const existing = (await templateIds(tx, [input.name])).get(input.name)
  if (existing !== undefined && ifExists === 'keep') return { templateId: existing, created: false }
  if (existing !== undefined && ifExists === 'error') throw invalidChange(`template '${input.name}' exists`, { template: input.name })
  const typeId = await deviceTypeId(tx, input.deviceType ?? 'Sensor')
  let templateId: number
  if (existing === undefined) {
    const [row] = await tx<{ id: number }[]>`
      INSERT INTO "DeviceTemplate" ("Name", "Model", "Description", "DeviceTypeId")
      VALUES (${input.name}, ${input.model ?? null}, ${input.description ?? null}, ${typeId})
      RETURNING "DeviceTemplateId"::int AS id`
    templateId = (row as { id: number }).id
  } else {
    templateId = existing
    await tx`UPDATE "DeviceTemplate" SET "Model" = ${input.model ?? null}, "Description" = ${input.description ?? null},
      "DeviceTypeId" = ${typeId} WHERE "DeviceTemplateId" = ${templateId}`
    await tx`DELETE FROM "DataPoint" WHERE "DeviceTemplateId" = ${templateId}`
  }
  const rows = dataPoints.map(dp => ({
    label: dp.label, format: dp.dataFormat, encoding: dp.dataEncoding ?? null, offset: dp.offset, length: dp.length,
    prepend: dp.prepend ?? null, append: dp.append ?? null, whole: dp.wholeNumber ?? null, decimals: dp.decimals ?? null,
    icon: dp.icon ?? null, rt: dp.realTimeChart ?? true, hist: dp.historicalChart ?? true
  }))
  await tx`
    INSERT INTO "DataPointIcon" ("IconName")
    SELECT DISTINCT u.icon FROM jsonb_to_recordset(${tx.json(rows)}) AS u (icon text)
    WHERE u.icon IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "DataPointIcon" i WHERE i."IconName" = u.icon)`
  await tx`
    INSERT INTO "DataPoint" ("DeviceTemplateId", "Label", "DataPointIconId", "DataFormat", "DataEncoding", "Offset", "Length",
                             "Prepend", "Append", "WholeNumber", "Decimals", "RealTimeChart", "HistoricalChart")
    SELECT ${templateId}, u.label, (SELECT min(i."DataPointIconId") FROM "DataPointIcon" i WHERE i."IconName" = u.icon),
           u.format, u.encoding, u.offset, u.length, u.prepend, u.append, u.whole, u.decimals, u.rt, u.hist
    FROM jsonb_to_recordset(${tx.json(rows)}) AS u (label text, icon text, format text, encoding text, "offset" int, length int,
         prepend text, append text, whole boolean, decimals int, rt boolean, hist boolean)`
  return { templateId, created: existing === undefined }
}

/** Creates a sensor template with its data points. `ifExists`: 'error' (default), 'keep' it, or 'replace' its data points. */
export async function addTemplate (sql: postgres.Sql, input: TemplateInput, options: { ifExists?: 'error' | 'keep' | 'replace' } = {}): Promise<{ templateId: number, created: boolean }> {
  return await sql.begin(async tx => {
    await lock(tx)
    return await writeTemplate(tx, input, options.ifExists ?? 'error')
  })
}

/** Registers a controller by MAC (stored normalised). An already registered MAC is returned unchanged (created = false). */
export async function addController (sql: postgres.Sql, input: { mac: string, name?: string | null }): Promise<{ deviceId: number, mac: string, created: boolean }> {
  const mac = checkMac(input.mac)
  const result = await registerFleet(sql, [{ mac, name: input.name ?? null, sensors: [] }])
  return { deviceId: result.controllers[0]?.deviceId as number, mac, created: result.controllersCreated === 1 }
}

/** Longest expected reporting interval a controller may be given (one week), as the column's CHECK. */
export const REPORTING_INTERVAL_MAX_S = 604_800

/**
 * Sets the reporting interval the fleet stage expects of a controller (seconds; null = its
 * default, FLEET_EXPECTED_INTERVAL_S). The registry's NOTIFY lets the fleet stage see it
 * without a restart. An unknown controller is F2_REGISTRY_INVALID_CHANGE.
 */
export async function setReportingInterval (sql: postgres.Sql, input: { mac: string, seconds: number | null }): Promise<{ mac: string, seconds: number | null }> {
  const mac = checkMac(input.mac)
  const s = input.seconds
  if (s !== null && (!Number.isInteger(s) || s < 1 || s > REPORTING_INTERVAL_MAX_S)) {
    throw invalidChange(`reporting interval must be 1..${REPORTING_INTERVAL_MAX_S} s or 'default', got ${String(s)}`, { seconds: s })
  }
  const updated = await sql.unsafe(`UPDATE "Device" c SET "ExpectedReportingIntervalS" = $2 WHERE ${MAC_SQL} = $1`, [mac, s])
  if (updated.count === 0) throw invalidChange(`no controller ${mac} in the registry`, { mac })
  return { mac, seconds: s }
}

export interface SensorInput {
  controller: string
  connector: number
  pin: number
  template: string
  name?: string | null
  /** Rewire a pin that already carries a sensor of another template (default false: error). */
  replace?: boolean
}

/**
 * Wires a new sensor device of `template` at controller / connector / pin (the connector
 * row is created when missing). The controller must exist. A pin already carrying a
 * sensor of the same template is left as it is (created = false); one carrying another
 * template is an error unless `replace`.
 */
export async function addSensor (sql: postgres.Sql, input: SensorInput): Promise<{ sensorDeviceId: number, created: boolean }> {
  const mac = checkMac(input.controller)
  checkConnector(input.connector)
  checkPin(input.pin)
  return await sql.begin(async tx => {
    await lock(tx)
    const [controller] = await tx<{ id: number }[]>`SELECT min(c."DeviceId")::int AS id FROM "Device" c WHERE ${tx.unsafe(MAC_SQL)} = ${mac}`
    if (controller?.id == null) throw invalidChange(`no controller with MAC ${mac}`, { mac })
    const [wired] = await tx<{ template: string | null }[]>`
      SELECT t."Name" AS template FROM "Connector" cn
      JOIN "Pin" p ON p."ConnectorId" = cn."ConnectorId" AND p."Position" = ${input.pin}
      JOIN "Device" s ON s."DeviceId" = p."DeviceId"
      LEFT JOIN "DeviceTemplate" t ON t."DeviceTemplateId" = s."DeviceTemplateId"
      WHERE cn."ControllerId" = ${controller.id} AND cn."ConnectorNumber" = ${input.connector}
      ORDER BY p."PinId" LIMIT 1`
    if (wired !== undefined && wired.template !== input.template && input.replace !== true) {
      throw invalidChange(`controller ${mac} J${input.connector} pin ${input.pin} already carries a '${String(wired.template)}' sensor`,
        { mac, connector: input.connector, pin: input.pin, template: wired.template })
    }
    const outcome = await wireSensors(tx, [{ controllerId: controller.id, mac, connector: input.connector, pin: input.pin, template: input.template, name: input.name ?? null }])
    return outcome[0] as { sensorDeviceId: number, created: boolean }
  })
}

export interface FleetSensor { connector: number, pin: number, template: string, name?: string | null }
export interface FleetController { mac: string, name?: string | null, sensors: FleetSensor[] }

export interface FleetResult {
  controllers: Array<{ mac: string, deviceId: number }>
  controllersCreated: number
  sensorsCreated: number
  sensorsKept: number
}

type Wiring = { controllerId: number, mac: string, connector: number, pin: number, template: string, name: string | null }

/**
 * Set-based wiring (a handful of statements whatever the count): connectors are created
 * when missing; a pin that carries a sensor of the wanted template keeps it, any other
 * pin gets a new sensor device.
 */
async function wireSensors (tx: Tx, wiring: Wiring[]): Promise<Array<{ sensorDeviceId: number, created: boolean }>> {
  if (wiring.length === 0) return []
  const templates = await templateIds(tx, [...new Set(wiring.map(w => w.template))])
  const missing = [...new Set(wiring.map(w => w.template))].filter(t => !templates.has(t))
  if (missing.length > 0) throw invalidChange(`unknown template(s): ${missing.join(', ')}`, { templates: missing })
  const wanted = wiring.map((w, i) => ({ i, cid: w.controllerId, num: w.connector, pos: w.pin, tid: templates.get(w.template) as number }))
  await tx`
    INSERT INTO "Connector" ("ControllerId", "ConnectorNumber")
    SELECT DISTINCT u.cid, u.num FROM jsonb_to_recordset(${tx.json(wanted)}) AS u (cid int, num int)
    WHERE NOT EXISTS (SELECT 1 FROM "Connector" x WHERE x."ControllerId" = u.cid AND x."ConnectorNumber" = u.num)`
  const current = await tx<{ i: number, connector_id: number, pin_id: number | null, sensor_id: number | null, template_id: number | null }[]>`
    SELECT u.i, cn.id AS connector_id, p."PinId"::int AS pin_id, s."DeviceId"::int AS sensor_id, s."DeviceTemplateId"::int AS template_id
    FROM jsonb_to_recordset(${tx.json(wanted)}) AS u (i int, cid int, num int, pos int)
    CROSS JOIN LATERAL (SELECT min(x."ConnectorId")::int AS id FROM "Connector" x
                        WHERE x."ControllerId" = u.cid AND x."ConnectorNumber" = u.num) AS cn
    LEFT JOIN LATERAL (SELECT * FROM "Pin" p WHERE p."ConnectorId" = cn.id AND p."Position" = u.pos
                       ORDER BY p."PinId" LIMIT 1) AS p ON true
    LEFT JOIN "Device" s ON s."DeviceId" = p."DeviceId"`
  const out: Array<{ sensorDeviceId: number, created: boolean }> = new Array(wiring.length)
  const devices: Array<{ uuid: string, name: string, tid: number }> = []
  const pending: Array<{ i: number, uuid: string, connectorId: number, pinId: number | null, pos: number }> = []
  for (const row of current) {
    const w = wiring[row.i] as Wiring
    const want = wanted[row.i] as { tid: number }
    if (row.sensor_id !== null && row.template_id === want.tid) {
      out[row.i] = { sensorDeviceId: row.sensor_id, created: false }
      continue
    }
    const uuid = randomUUID()
    devices.push({ uuid, name: w.name ?? `${w.template} ${w.mac} J${w.connector}/${w.pin}`, tid: want.tid })
    pending.push({ i: row.i, uuid, connectorId: row.connector_id, pinId: row.pin_id, pos: w.pin })
  }
  if (devices.length === 0) return out
  const created = await tx<{ uuid: string, id: number }[]>`
    INSERT INTO "Device" ("DeviceName", "DeviceTemplateId", "Uuid")
    SELECT u.name, u.tid, u.uuid FROM jsonb_to_recordset(${tx.json(devices)}) AS u (uuid uuid, name text, tid int)
    RETURNING "Uuid"::text AS uuid, "DeviceId"::int AS id`
  const idOf = new Map(created.map(r => [r.uuid, r.id]))
  const pins = pending.map(p => ({ ...p, did: idOf.get(p.uuid) as number }))
  await tx`
    UPDATE "Pin" p SET "DeviceId" = u.did
    FROM jsonb_to_recordset(${tx.json(pins.filter(p => p.pinId !== null))}) AS u ("pinId" int, did int)
    WHERE p."PinId" = u."pinId"`
  await tx`
    INSERT INTO "Pin" ("ConnectorId", "Position", "DeviceId")
    SELECT u."connectorId", u.pos, u.did FROM jsonb_to_recordset(${tx.json(pins.filter(p => p.pinId === null))}) AS u ("connectorId" int, pos int, did int)`
  for (const p of pins) out[p.i] = { sensorDeviceId: p.did, created: true }
  return out
}

/**
 * Registers many controllers and their sensors in ONE transaction with a fixed number of
 * statements (bulk-friendly for simulated fleets). Idempotent: registering the same fleet
 * again creates nothing. Templates named by sensors must exist (or be given in
 * `options.templates`, created when missing, kept when present).
 */
export async function registerFleet (sql: postgres.Sql, fleet: FleetController[], options: { templates?: TemplateInput[] } = {}): Promise<FleetResult> {
  const controllers = fleet.map(c => ({ mac: checkMac(c.mac), name: c.name ?? null }))
  const seen = new Set<string>()
  const wiringIn: Array<Omit<Wiring, 'controllerId'>> = []
  fleet.forEach((c, ci) => {
    const mac = (controllers[ci] as { mac: string }).mac
    for (const s of c.sensors) {
      const key = `${mac}|${checkConnector(s.connector)}|${checkPin(s.pin)}`
      if (seen.has(key)) throw invalidChange(`pin listed twice: ${mac} J${s.connector} pin ${s.pin}`, { mac, connector: s.connector, pin: s.pin })
      seen.add(key)
      wiringIn.push({ mac, connector: s.connector, pin: s.pin, template: s.template, name: s.name ?? null })
    }
  })
  return await sql.begin(async tx => {
    await lock(tx)
    for (const t of options.templates ?? []) await writeTemplate(tx, t, 'keep')
    const templateId = await controllerTemplateId(tx)
    const inserted = await tx`
      INSERT INTO "Device" ("DeviceName", "DeviceTemplateId", "MacAddress")
      SELECT DISTINCT ON (u.mac) coalesce(u.name, 'F2 Controller ' || u.mac), ${templateId}::int, u.mac
      FROM jsonb_to_recordset(${tx.json(controllers)}) AS u (mac text, name text)
      WHERE NOT EXISTS (SELECT 1 FROM "Device" c WHERE ${tx.unsafe(MAC_SQL)} = u.mac)`
    const ids = await tx<{ mac: string, id: number }[]>`
      SELECT u.mac, (SELECT min(c."DeviceId")::int FROM "Device" c WHERE ${tx.unsafe(MAC_SQL)} = u.mac) AS id
      FROM jsonb_to_recordset(${tx.json(controllers)}) AS u (mac text)`
    const idOf = new Map(ids.map(r => [r.mac, r.id]))
    const sensors = await wireSensors(tx, wiringIn.map(w => ({ ...w, controllerId: idOf.get(w.mac) as number })))
    return {
      controllers: controllers.map(c => ({ mac: c.mac, deviceId: idOf.get(c.mac) as number })),
      controllersCreated: inserted.count,
      sensorsCreated: sensors.filter(s => s.created).length,
      sensorsKept: sensors.filter(s => !s.created).length
    }
  })
}
