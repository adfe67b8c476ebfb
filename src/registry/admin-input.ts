import { z } from 'zod'
import { checkDataPointDef, parseDataEncoding } from '../core/datapoint.ts'
import { ErrorCodes, F2Error } from '../core/errors.ts'
import { normalizeMacLenient } from '../core/topic.ts'

/** A data point of a template, as registry tools accept it (JSON files use these names). */
export const dataPointInputSchema = z.strictObject({
  label: z.string().trim().min(1).max(200),
  dataFormat: z.string().trim().min(1).max(50),
  dataEncoding: z.string().trim().max(50).nullish(),
  offset: z.int().min(0),
  length: z.int().min(1),
  prepend: z.string().max(50).nullish(),
  append: z.string().max(50).nullish(),
  wholeNumber: z.boolean().nullish(),
  decimals: z.int().min(0).max(15).nullish(),
  icon: z.string().trim().min(1).max(100).nullish(),
  realTimeChart: z.boolean().nullish(),
  historicalChart: z.boolean().nullish()
})

export type DataPointInput = z.input<typeof dataPointInputSchema>

export interface TemplateInput {
  name: string
  model?: string | null
  description?: string | null
  /** DeviceType name; created when missing. Default 'Sensor'. */
  deviceType?: string
  dataPoints: DataPointInput[]
}

export function invalidChange (message: string, details?: Record<string, unknown>): F2Error {
  return new F2Error(ErrorCodes.REGISTRY_INVALID_CHANGE, message, details === undefined ? {} : { details })
}

/** Lowercase 12-digit hex; throws F2_REGISTRY_INVALID_CHANGE otherwise. */
export function checkMac (mac: string): string {
  const norm = normalizeMacLenient(String(mac))
  if (norm === null) throw invalidChange(`not a MAC address: '${String(mac).slice(0, 40)}'`, { mac })
  return norm
}

/** Connector numbers are 1..5 (J1..J5). */
export function checkConnector (n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 5) throw invalidChange(`connector must be 1..5, got ${String(n)}`, { connector: n })
  return n
}

export function checkPin (n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > 32767) throw invalidChange(`pin position must be 1..32767, got ${String(n)}`, { pin: n })
  return n
}

/**
 * Validates data points so that every template the tools write decodes: the schema
 * above, a format and width the decoder supports, and unique labels (a label is part of
 * the time-series key).
 */
export function checkDataPoints (input: unknown, template: string): Array<z.output<typeof dataPointInputSchema>> {
  const parsed = z.array(dataPointInputSchema).min(1).safeParse(input)
  if (!parsed.success) {
    throw invalidChange(`template '${template}': invalid data points: ${parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  }
  const labels = new Set<string>()
  parsed.data.forEach((dp, index) => {
    if (labels.has(dp.label)) throw invalidChange(`template '${template}': duplicate data point label '${dp.label}'`, { index })
    labels.add(dp.label)
    const check = checkDataPointDef({
      dataPointId: index,
      label: dp.label,
      dataFormat: dp.dataFormat,
      dataEncoding: dp.dataEncoding ?? null,
      offset: dp.offset,
      length: dp.length,
      prepend: dp.prepend ?? null,
      append: dp.append ?? null,
      wholeNumber: dp.wholeNumber ?? null,
      decimals: dp.decimals ?? null
    })
    if (!check.ok) throw invalidChange(`template '${template}': ${check.error.message}`, { index, cause: check.error.code })
    const encoding = parseDataEncoding(dp.dataEncoding)
    if (!encoding.ok) throw invalidChange(`template '${template}': ${encoding.error.message}`, { index, cause: encoding.error.code })
  })
  return parsed.data
}
