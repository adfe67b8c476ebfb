import type postgres from 'postgres'
import { MAC_SQL } from './queries.ts'

export interface PinListing {
  position: number
  sensor: { deviceId: number, name: string | null, template: string | null, dataPoints: number } | null
}
export interface ConnectorListing { number: number, pins: PinListing[] }
export interface ControllerListing { deviceId: number, mac: string, name: string | null, connectors: ConnectorListing[] }
export interface TemplateListing {
  templateId: number
  name: string
  model: string | null
  deviceType: string | null
  dataPoints: Array<{ label: string, dataFormat: string, dataEncoding: string | null, offset: number, length: number, decimals: number | null, unit: string | null }>
}

/**
 * Every device with a MAC (a controller) with its connectors, pins and the sensors wired there;
 * with `mac` (normalised: 12 lowercase hex digits) only that controller (an empty list when unknown).
 */
export async function listControllers (sql: postgres.Sql, mac?: string): Promise<ControllerListing[]> {
  const rows = await sql<Array<{
    controller_id: number, mac: string, controller_name: string | null, connector: number | null, pin: number | null,
    sensor_id: number | null, sensor_name: string | null, template: string | null, datapoints: number
  }>>`
    SELECT c."DeviceId"::int AS controller_id, ${sql.unsafe(MAC_SQL)} AS mac, c."DeviceName" AS controller_name,
           cn."ConnectorNumber"::int AS connector, p."Position"::int AS pin,
           s."DeviceId"::int AS sensor_id, s."DeviceName" AS sensor_name, t."Name" AS template,
           (SELECT count(*)::int FROM "DataPoint" d WHERE d."DeviceTemplateId" = t."DeviceTemplateId") AS datapoints
    FROM "Device" c
    LEFT JOIN "Connector" cn ON cn."ControllerId" = c."DeviceId"
    LEFT JOIN "Pin" p ON p."ConnectorId" = cn."ConnectorId"
    LEFT JOIN "Device" s ON s."DeviceId" = p."DeviceId"
    LEFT JOIN "DeviceTemplate" t ON t."DeviceTemplateId" = s."DeviceTemplateId"
    WHERE coalesce(c."MacAddress", '') <> ''
    ${mac === undefined ? sql`` : sql`AND ${sql.unsafe(MAC_SQL)} = ${mac}`}
    ORDER BY 2, c."DeviceId", cn."ConnectorNumber", p."Position", p."PinId"`
  const controllers: ControllerListing[] = []
  for (const r of rows) {
    let c = controllers.at(-1)
    if (c?.deviceId !== r.controller_id) {
      c = { deviceId: r.controller_id, mac: r.mac, name: r.controller_name, connectors: [] }
      controllers.push(c)
    }
    if (r.connector === null) continue
    let cn = c.connectors.at(-1)
    if (cn?.number !== r.connector) {
      cn = { number: r.connector, pins: [] }
      c.connectors.push(cn)
    }
    if (r.pin === null) continue
    cn.pins.push({
      position: r.pin,
      sensor: r.sensor_id === null ? null : { deviceId: r.sensor_id, name: r.sensor_name, template: r.template, dataPoints: r.datapoints }
    })
  }
  return controllers
}

/** Every template with its data points in offset order. */
export async function listTemplates (sql: postgres.Sql): Promise<TemplateListing[]> {
  const rows = await sql<Array<{
    template_id: number, name: string, model: string | null, device_type: string | null, label: string | null, data_format: string,
    data_encoding: string | null, byte_offset: number, byte_length: number, decimals: number | null, unit: string | null
  }>>`
    SELECT t."DeviceTemplateId"::int AS template_id, t."Name" AS name, t."Model" AS model, dt."Name" AS device_type,
           d."Label" AS label, d."DataFormat" AS data_format, d."DataEncoding" AS data_encoding,
           d."Offset"::int AS byte_offset, d."Length"::int AS byte_length, d."Decimals"::int AS decimals, btrim(d."Append") AS unit
    FROM "DeviceTemplate" t
    LEFT JOIN "DeviceType" dt ON dt."DeviceTypeId" = t."DeviceTypeId"
    LEFT JOIN "DataPoint" d ON d."DeviceTemplateId" = t."DeviceTemplateId"
    ORDER BY t."Name", t."DeviceTemplateId", d."Offset", d."DataPointId"`
  const templates: TemplateListing[] = []
  for (const r of rows) {
    let t = templates.at(-1)
    if (t?.templateId !== r.template_id) {
      t = { templateId: r.template_id, name: r.name, model: r.model, deviceType: r.device_type, dataPoints: [] }
      templates.push(t)
    }
    if (r.label === null) continue
    t.dataPoints.push({ label: r.label, dataFormat: r.data_format, dataEncoding: r.data_encoding, offset: r.byte_offset, length: r.byte_length, decimals: r.decimals, unit: r.unit })
  }
  return templates
}
