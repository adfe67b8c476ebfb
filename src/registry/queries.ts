import type { DataPointDef } from '../core/datapoint.ts'
import { ErrorCodes } from '../core/errors.ts'
import { fail, ok, type Result } from '../core/result.ts'
import type { SensorDefinition } from '../core/sensor.ts'

/**
 * The MAC of a `Device` row as the resolver compares it: lowercase, without ':' or '-'.
 * Must stay identical to the expression of the index in sql/registry/002_indexes.sql.
 */
export const MAC_SQL = `lower(replace(replace(c."MacAddress", ':', ''), '-', ''))`

/** $1 = normalised MAC. The lowest DeviceId wins if a MAC was registered twice. */
export const CONTROLLER_SQL = `
SELECT c."DeviceId"::int AS device_id, c."DeviceName" AS name
FROM "Device" c
WHERE ${MAC_SQL} = $1
ORDER BY c."DeviceId"
LIMIT 1`

/**
 * $1 = normalised MAC, $2 = connector number, $3 = pin position. One row per data point of
 * the sensor wired there (one row with NULL columns when something along the chain is
 * missing), so one round trip tells apart unknown controller (no rows), unwired pin
 * (sensor_id NULL) and a template without data points (datapoint_id NULL).
 * Wired rows sort first, then lowest ids, so duplicates in a legacy registry resolve
 * deterministically.
 */
export const SENSOR_SQL = `
SELECT c."DeviceId"::int AS controller_id,
       c."DeviceName" AS controller_name,
       p."PinId"::int AS pin_id,
       s."DeviceId"::int AS sensor_id,
       s."DeviceName" AS sensor_name,
       t."DeviceTemplateId"::int AS template_id,
       t."Name" AS template_name,
       dp."DataPointId"::int AS datapoint_id,
       dp."Label" AS label,
       dp."DataFormat" AS data_format,
       dp."DataEncoding" AS data_encoding,
       dp."Offset"::int AS byte_offset,
       dp."Length"::int AS byte_length,
       dp."Prepend" AS prepend,
       dp."Append" AS append,
       dp."WholeNumber" AS whole_number,
       dp."Decimals"::int AS decimals
FROM "Device" c
LEFT JOIN "Connector" cn ON cn."ControllerId" = c."DeviceId" AND cn."ConnectorNumber" = $2
LEFT JOIN "Pin" p ON p."ConnectorId" = cn."ConnectorId" AND p."Position" = $3 AND p."DeviceId" IS NOT NULL
LEFT JOIN "Device" s ON s."DeviceId" = p."DeviceId"
LEFT JOIN "DeviceTemplate" t ON t."DeviceTemplateId" = s."DeviceTemplateId"
LEFT JOIN "DataPoint" dp ON dp."DeviceTemplateId" = t."DeviceTemplateId"
WHERE ${MAC_SQL} = $1
ORDER BY (s."DeviceId" IS NULL), c."DeviceId", cn."ConnectorId", p."PinId", dp."Offset", dp."DataPointId"`

export type SensorRow = {
  controller_id: number
  controller_name: string | null
  pin_id: number | null
  sensor_id: number | null
  sensor_name: string | null
  template_id: number | null
  template_name: string | null
  datapoint_id: number | null
  label: string | null
  data_format: string | null
  data_encoding: string | null
  byte_offset: number | null
  byte_length: number | null
  prepend: string | null
  append: string | null
  whole_number: boolean | null
  decimals: number | null
}

/** Builds the outcome of SENSOR_SQL's rows. Pure. */
export function sensorFromRows (mac: string, connector: number, pin: number, rows: readonly SensorRow[]): Result<SensorDefinition> {
  const where = { mac, connector, pin }
  const first = rows[0]
  if (first === undefined) return fail(ErrorCodes.REGISTRY_UNKNOWN_CONTROLLER, `no controller with MAC ${mac} in the registry`, where)
  if (first.sensor_id === null) {
    return fail(ErrorCodes.REGISTRY_UNWIRED_PIN, `nothing wired at controller ${mac} connector ${connector} pin ${pin}`,
      { ...where, controllerDeviceId: first.controller_id })
  }
  const mine = rows.filter(r => r.controller_id === first.controller_id && r.pin_id === first.pin_id)
  const dataPoints: DataPointDef[] = []
  for (const r of mine) {
    if (r.datapoint_id === null || r.label === null || r.data_format === null || r.byte_offset === null || r.byte_length === null) continue
    dataPoints.push({
      dataPointId: r.datapoint_id,
      label: r.label,
      dataFormat: r.data_format,
      dataEncoding: r.data_encoding,
      offset: r.byte_offset,
      length: r.byte_length,
      prepend: r.prepend,
      append: r.append,
      wholeNumber: r.whole_number,
      decimals: r.decimals
    })
  }
  const templateName = first.template_name ?? ''
  if (dataPoints.length === 0) {
    return fail(ErrorCodes.REGISTRY_NO_DATAPOINTS,
      first.template_id === null
        ? `sensor ${first.sensor_id} at ${mac} J${connector} pin ${pin} has no template`
        : `template '${templateName}' of sensor ${first.sensor_id} has no data points`,
      { ...where, controllerDeviceId: first.controller_id, sensorDeviceId: first.sensor_id, templateId: first.template_id })
  }
  return ok({
    controllerMac: mac,
    controllerDeviceId: first.controller_id,
    connectorNumber: connector,
    pinPosition: pin,
    sensorDeviceId: first.sensor_id,
    sensorName: first.sensor_name ?? '',
    templateName,
    dataPoints
  })
}
