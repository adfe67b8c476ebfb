import type postgres from 'postgres'
import { listControllers, type ControllerListing } from '../../registry/listing.ts'
import type { QueryRunner } from '../../storage/query-runner.ts'
import type { DeadLetterQuery, DeviceListQuery, ReadingsQuery } from './params.ts'
import {
  deadLettersQuery, deviceListQuery, deviceStateQuery, readingsQuery, readingsSource, transitionsQuery, VARIANT_SQL,
  type Query, type Variant
} from './queries.ts'

/** What the routes read; the real one is `createFleetReader`, over the two databases. */
export interface FleetReader {
  devices: (q: DeviceListQuery) => Promise<Page<Row>>
  /** undefined when the MAC is neither in device_state nor in the registry. */
  device: (mac: string) => Promise<DeviceDetail | undefined>
  /** undefined when the MAC is unknown (as for `device`). */
  readings: (q: ReadingsQuery) => Promise<{ rows: Row[], truncated: boolean, source: string } | undefined>
  deadLetters: (q: DeadLetterQuery) => Promise<Page<Row>>
}

export type Row = Record<string, unknown>
export interface Page<T> { rows: T[], more: boolean }

export interface DeviceDetail {
  mac: string
  state: Row | null
  lastValues: unknown[]
  transitions: Row[]
  registry: ControllerListing | null
}

/** Which bucket source to use is decided once, on the first readings query that needs it. */
export function createFleetReader (timeseries: Pick<QueryRunner, 'query'>, registry: postgres.Sql): FleetReader {
  let variant: Variant | undefined
  const run = async (q: Query): Promise<Row[]> => await timeseries.query<Row>(q.text, q.params)
  const page = (rows: Row[], limit: number): Page<Row> => ({ rows: rows.slice(0, limit), more: rows.length > limit })
  const detectVariant = async (): Promise<Variant> => {
    if (variant === undefined) {
      const [row] = await timeseries.query<{ timescale: boolean }>(VARIANT_SQL)
      variant = row?.timescale === true ? 'timescale' : 'plain'
    }
    return variant
  }
  const wiring = async (mac: string): Promise<ControllerListing | null> => (await listControllers(registry, mac))[0] ?? null
  const known = async (mac: string): Promise<boolean> =>
    (await run(deviceStateQuery(mac))).length > 0 || (await wiring(mac)) !== null

  return {
    devices: async q => page(await run(deviceListQuery(q)), q.limit),
    async device (mac) {
      const [[state], transitions, controller] = await Promise.all([run(deviceStateQuery(mac)), run(transitionsQuery(mac)), wiring(mac)])
      if (state === undefined && controller === null) return undefined
      let lastValues: unknown[] = []
      let summary: Row | null = null
      if (state !== undefined) {
        const { last_values: values, ...rest } = state
        lastValues = Array.isArray(values) ? values : []
        summary = rest
      }
      return { mac, state: summary, lastValues, transitions, registry: controller }
    },
    async readings (q) {
      if (!await known(q.mac)) return undefined
      const v = await detectVariant()
      const rows = await run(readingsQuery(q, v))
      return { rows: rows.slice(0, q.limit), truncated: rows.length > q.limit, source: readingsSource(q.bucket, v) }
    },
    deadLetters: async q => page(await run(deadLettersQuery(q)), q.limit)
  }
}
