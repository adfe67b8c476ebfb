import { performance } from 'node:perf_hooks'
import type { Result } from '../../core/result.ts'
import type { SensorDefinition } from '../../core/sensor.ts'
import { parseSensorKey, type Prepared } from './transform.ts'

/** What the processor needs from the device registry (RegistryStore satisfies it). */
export interface SensorResolver {
  resolveSensor: (mac: string, connector: number, pin: number) => Promise<Result<SensorDefinition>>
}

/** A batch's sensor definitions by sensor key, and how long each lookup took (s). */
export interface SensorLookups {
  sensors: Map<string, Result<SensorDefinition>>
  lookupSeconds: Map<string, number>
}

/**
 * Looks up each distinct sensor of a batch once, all at the same time. An unknown sensor is a
 * Failure in the map (the message is dead-lettered); a registry that cannot answer rejects
 * (a retryable F2Error from the resolver: the caller holds the batch and retries).
 */
export async function lookupSensors (resolver: SensorResolver, prepared: Prepared[]): Promise<SensorLookups> {
  const keys = new Set<string>()
  for (const p of prepared) if (p.ok === true && p.sensorKey !== null) keys.add(p.sensorKey)
  const sensors = new Map<string, Result<SensorDefinition>>()
  const lookupSeconds = new Map<string, number>()
  await Promise.all([...keys].map(async key => {
    const { mac, connector, pin } = parseSensorKey(key)
    const t0 = performance.now()
    sensors.set(key, await resolver.resolveSensor(mac, connector, pin))
    lookupSeconds.set(key, (performance.now() - t0) / 1000)
  }))
  return { sensors, lookupSeconds }
}
