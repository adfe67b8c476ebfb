import { describe, expect, it } from 'vitest'
import { MEASUREMENT_COLUMN_SPECS, MEASUREMENT_KEY } from '../../src/core/measurement-columns.ts'
import { COLUMN_LIST, CONFLICTS, COPY_DIRECT, COPY_STAGING, ENSURE_STAGING, INSERT_STAGING, MOVE } from '../../src/storage/measurement-sql.ts'

describe('the writer\'s SQL, derived from the column declaration', () => {
  it('lists every declared column, in order, in the COPY statements and the move', () => {
    expect(COLUMN_LIST).toBe(MEASUREMENT_COLUMN_SPECS.map(c => `"${c.name}"`).join(', '))
    expect(COPY_DIRECT).toBe(`COPY iot_measurements (${COLUMN_LIST}) FROM STDIN`)
    expect(COPY_STAGING).toContain(`(${COLUMN_LIST}, f2_index) FROM STDIN`)
    expect(MOVE).toContain(`INSERT INTO iot_measurements (${COLUMN_LIST})`)
    expect(MOVE).toContain('ON CONFLICT DO NOTHING')
  })

  it('types the staging table and the JSON recordset as the declaration does, plus the batch index', () => {
    const typed = MEASUREMENT_COLUMN_SPECS.map(c => `"${c.name}" ${c.sql}`).join(', ') + ', f2_index integer'
    expect(ENSURE_STAGING).toContain(`(${typed}) ON COMMIT DELETE ROWS`)
    expect(INSERT_STAGING).toContain(`AS u (${typed})`)
  })

  it('joins conflicts on the key and compares the compared columns only', () => {
    expect(CONFLICTS).toContain(`USING (${MEASUREMENT_KEY.map(k => `"${k}"`).join(', ')})`)
    expect(CONFLICTS).toContain('s."value" IS DISTINCT FROM m."value" OR s."unit" IS DISTINCT FROM m."unit" OR s."value_text" IS DISTINCT FROM m."value_text"')
    expect(CONFLICTS).not.toContain('s."topic"')
    expect(MEASUREMENT_KEY).toEqual(['timestamp', 'device_id', 'connector_mode', 'datapoint_label', 'pin_position', 'connector'])
  })
})
