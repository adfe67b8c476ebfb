/**
 * The one declaration of a measurement's columns. The `Measurement` type, its zod schema, the
 * fast parser, the COPY line, the storage checks and the sink's staging SQL are derived from
 * it; test/storage/measurement-table.test.ts checks that the migrated `iot_measurements`
 * table matches it. Adding a column: a line here, a migration, its value in the tests'
 * measurement builder (harness/measurement.ts) and its row in docs/architecture/data-models.md
 * (test/core/measurement-columns.unit.test.ts checks the table against this declaration).
 */

/** How a field is read from input, and its TypeScript type (see KindType). */
export type ColumnKind =
  /** ISO instant; output canonical, UTC with 6 fraction digits. */
  | 'instant'
  /** A string. */
  | 'text'
  /** A string, or a finite number converted to one. */
  | 'label'
  /** A finite number; a boolean is 1/0, a string its leading number. */
  | 'number'
  /** A safe integer. */
  | 'int'

export type SqlType = 'timestamptz' | 'text' | 'double precision' | 'smallint' | 'integer'

export interface ColumnSpec {
  readonly name: string
  readonly sql: SqlType
  /** NOT NULL in the table. */
  readonly notNull: boolean
  /**
   * The table's DEFAULT. When the TypeScript type is not nullable, also what a missing or
   * null field becomes; when it is nullable and the column is NOT NULL, what null is stored as.
   */
  readonly default?: string | number
  readonly kind: ColumnKind
  /** The TypeScript type admits null. Not nullable and without a default: the field is required. */
  readonly nullable: boolean
  /** Part of the primary key. */
  readonly key?: boolean
  /** Compared with the row stored under the same key: a difference makes a conflict, not a redelivery. */
  readonly compared?: boolean
  /** The seed's name of the field, accepted on input (the canonical name wins). */
  readonly alias?: string
  /** `int`: the accepted range (default: safe integers). */
  readonly min?: number
  readonly max?: number
  /** `text`: trimmed, 1..maxLength characters. */
  readonly maxLength?: number
}

/** Column order = field order = COPY order. */
export const MEASUREMENT_COLUMN_SPECS = [
  /** Device time. */
  { name: 'timestamp', sql: 'timestamptz', notNull: true, kind: 'instant', nullable: false, key: true },
  { name: 'device_id', sql: 'text', notNull: true, kind: 'text', nullable: false, key: true, alias: 'mac_address', maxLength: 255 },
  { name: 'connector_mode', sql: 'text', notNull: true, default: 'unknown', kind: 'text', nullable: false, key: true, alias: 'mode' },
  { name: 'datapoint_label', sql: 'text', notNull: true, default: 'unknown', kind: 'text', nullable: false, key: true, alias: 'data_point_label' },
  { name: 'pin_position', sql: 'text', notNull: true, default: '-1', kind: 'label', nullable: false, key: true, alias: 'pin' },
  { name: 'value', sql: 'double precision', notNull: false, kind: 'number', nullable: true, compared: true },
  { name: 'unit', sql: 'text', notNull: false, default: '', kind: 'text', nullable: false, compared: true },
  { name: 'topic', sql: 'text', notNull: false, default: '', kind: 'text', nullable: false, alias: 'original_topic' },
  /** 1..5; null (unknown, e.g. rows adopted from the seed) is stored as 0. */
  { name: 'connector', sql: 'smallint', notNull: true, default: 0, kind: 'int', nullable: true, key: true, min: 1, max: 5 },
  { name: 'value_text', sql: 'text', notNull: false, kind: 'text', nullable: true, compared: true },
  /** Registry `Device.DeviceId` of the sensor. */
  { name: 'sensor_device_id', sql: 'integer', notNull: false, kind: 'int', nullable: true },
  /** Registry `DataPoint.DataPointId`. */
  { name: 'datapoint_id', sql: 'integer', notNull: false, kind: 'int', nullable: true },
  /** When the connector received the message. */
  { name: 'received_at', sql: 'timestamptz', notNull: false, kind: 'instant', nullable: true }
] as const satisfies readonly ColumnSpec[]

/** Columns of iot_measurements that the database fills itself (DEFAULT now()); no measurement field. */
export const MEASUREMENT_TABLE_ONLY_COLUMNS = ['ingested_at'] as const

type Specs = typeof MEASUREMENT_COLUMN_SPECS
type KindType = { instant: string, text: string, label: string, number: number, int: number }

/** The row type a column list describes. */
export type RowOf<C extends readonly ColumnSpec[]> = {
  [S in C[number] as S['name']]: KindType[S['kind']] | (S['nullable'] extends true ? null : never)
}

/** A decoded reading: the processor's output on `decoded_iot_data` and the sink's input. Instants are ISO UTC with 6 fraction digits. */
export type Measurement = RowOf<Specs>

export type MeasurementColumn = Specs[number]['name']

/** Column names in table / COPY order. */
export const MEASUREMENT_COLUMNS: readonly MeasurementColumn[] = MEASUREMENT_COLUMN_SPECS.map(c => c.name)

/** The primary key, in table order. */
export const MEASUREMENT_KEY: readonly MeasurementColumn[] = MEASUREMENT_COLUMN_SPECS.filter(c => 'key' in c && c.key).map(c => c.name)

/** Seed field aliases → canonical names. */
export const MEASUREMENT_ALIASES: Readonly<Record<string, MeasurementColumn>> = Object.fromEntries(
  MEASUREMENT_COLUMN_SPECS.flatMap(c => ('alias' in c ? [[c.alias, c.name]] : []))
)

/** The value a missing field gets (text with a default), null for none. */
export function fieldDefault (c: ColumnSpec): string | number | null {
  return c.nullable || c.default === undefined ? null : c.default
}

/** What null is stored as: the default of a NOT NULL column whose field may be null; else null (SQL NULL). */
export function storedNull (c: ColumnSpec): string | number | null {
  return c.nullable && c.notNull && c.default !== undefined ? c.default : null
}
