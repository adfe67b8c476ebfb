import { describe, expect, it } from 'vitest'
import { applyAliases, secondsToMs } from '../../src/adapters/config.ts'
import { ErrorCodes, F2Error } from '../../src/core/errors.ts'
import { loadConnectorConfig } from '../../src/stages/connector/config.ts'
import { loadSinkConfig } from '../../src/stages/sink/config.ts'

const sinkEnv = { TIMESCALE_PASSWORD: 'pw' }

function configError (load: () => unknown): F2Error {
  try {
    load()
  } catch (err) {
    expect(err).toBeInstanceOf(F2Error)
    expect((err as F2Error).code).toBe(ErrorCodes.CONFIG_INVALID)
    return err as F2Error
  }
  throw new Error('expected a configuration error')
}

describe('setting aliases', () => {
  it('the current names and the defaults', () => {
    expect(loadSinkConfig(sinkEnv)).toMatchObject({ batchSize: 5000, batchWaitMs: 250 })
    expect(loadSinkConfig({ ...sinkEnv, SINK_BATCH_SIZE: '300', SINK_BATCH_WAIT_MS: '80' })).toMatchObject({ batchSize: 300, batchWaitMs: 80 })
  })

  it("the seed's BATCH_SIZE, and BATCH_TIMEOUT in seconds (fractions allowed) as milliseconds", () => {
    expect(loadSinkConfig({ ...sinkEnv, BATCH_SIZE: '300', BATCH_TIMEOUT: '0.1' })).toMatchObject({ batchSize: 300, batchWaitMs: 100 })
    expect(loadSinkConfig({ ...sinkEnv, BATCH_TIMEOUT: '2' }).batchWaitMs).toBe(2000)
    expect(loadSinkConfig({ ...sinkEnv, BATCH_TIMEOUT: '0' }).batchWaitMs).toBe(0)
  })

  it('an alias is checked like the setting it stands for', () => {
    expect(configError(() => loadSinkConfig({ ...sinkEnv, BATCH_SIZE: '0' })).message).toMatch(/SINK_BATCH_SIZE/)
    expect(configError(() => loadSinkConfig({ ...sinkEnv, BATCH_TIMEOUT: 'soon' })).message).toMatch(/BATCH_TIMEOUT: invalid value "soon"/)
    expect(configError(() => loadSinkConfig({ ...sinkEnv, BATCH_TIMEOUT: '-1' })).message).toMatch(/BATCH_TIMEOUT/)
  })

  it('an alias and its current name: the same value is fine, different values are an error', () => {
    expect(loadSinkConfig({ ...sinkEnv, BATCH_SIZE: '300', SINK_BATCH_SIZE: '300' }).batchSize).toBe(300)
    expect(loadSinkConfig({ ...sinkEnv, BATCH_TIMEOUT: '0.5', SINK_BATCH_WAIT_MS: '500' }).batchWaitMs).toBe(500)
    const err = configError(() => loadSinkConfig({ ...sinkEnv, BATCH_SIZE: '300', SINK_BATCH_SIZE: '400', BATCH_TIMEOUT: '1', SINK_BATCH_WAIT_MS: '20' }))
    // Both problems at once.
    expect((err.details as { problems: string[] }).problems).toEqual([
      'BATCH_SIZE: conflicts with SINK_BATCH_SIZE (BATCH_SIZE is an older name of SINK_BATCH_SIZE; set only one)',
      'BATCH_TIMEOUT: conflicts with SINK_BATCH_WAIT_MS (BATCH_TIMEOUT is an older name of SINK_BATCH_WAIT_MS; set only one)'
    ])
  })

  it('an empty alias counts as unset (compose passes `BATCH_SIZE=` when .env leaves it empty)', () => {
    expect(loadSinkConfig({ ...sinkEnv, BATCH_SIZE: '', SINK_BATCH_SIZE: '700', BATCH_TIMEOUT: '' })).toMatchObject({ batchSize: 700, batchWaitMs: 250 })
  })

  it("the connector's earlier KAFKA_* batching names", () => {
    expect(loadConnectorConfig({})).toMatchObject({ batchSize: 500, lingerMs: 5, batchBytes: 900_000 })
    expect(loadConnectorConfig({ KAFKA_BATCH_SIZE: '2000', KAFKA_LINGER_MS: '50', KAFKA_BATCH_BYTES: '4096' })).toMatchObject({ batchSize: 2000, lingerMs: 50, batchBytes: 4096 })
    expect(loadConnectorConfig({ CONNECTOR_BATCH_SIZE: '2000', CONNECTOR_BATCH_WAIT_MS: '50' })).toMatchObject({ batchSize: 2000, lingerMs: 50 })
  })

  it('applyAliases leaves the input alone and drops the alias from the output', () => {
    const env = { OLD: '1.5', KEEP: 'x' }
    const out = applyAliases(env, [{ alias: 'OLD', name: 'NEW', convert: secondsToMs }])
    expect(out).toEqual({ env: { KEEP: 'x', NEW: '1500' }, problems: [] })
    expect(env).toEqual({ OLD: '1.5', KEEP: 'x' })
  })
})
