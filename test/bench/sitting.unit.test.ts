import { describe, expect, it } from 'vitest'
import { cpuPerMessage, cpuTotals } from '../../bench/lib/sitting.ts'
import type { ProcessStats } from '../../bench/lib/proc.ts'

function proc (name: string, cpu: Array<[number, number]>): ProcessStats {
  return { name, pids: [1], cpuCoresAvg: 0, cpuCoresMax: 0, rssMbMax: 0, peakRssMb: 0, peakAnonMb: 0, series: cpu.map(([t, c]) => ({ t, cpu: c, rssMb: 1 })) }
}

describe('CPU per message', () => {
  it('divides the cores used inside the window by the messages landed per second', () => {
    // 0.5 cores inside the window (the 2.0 outside is warm-up), 1000 messages/s: 500 µs per message.
    const r = cpuPerMessage([proc('sink', [[1, 2], [5, 0.4], [6, 0.6], [20, 2]]), proc('idle', [[1, 1]])], { from: 4, to: 10 }, 1000)
    expect(r).toEqual({ sink: 500, idle: null })
    expect(cpuPerMessage([proc('sink', [[5, 1]])], { from: 4, to: 10 }, 0)).toEqual({ sink: null })
  })

  it('sums the stages and everything but the load generator', () => {
    expect(cpuTotals({ connector: 10, processor: 20.25, sink: 5, kafka: 30, 'load-generator': 100, mosquitto: null }, ['connector', 'processor', 'sink']))
      .toEqual({ stages: 35.3, pipeline: 65.3 })
  })
})
