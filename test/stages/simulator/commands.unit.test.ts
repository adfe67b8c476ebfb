import { describe, expect, it } from 'vitest'
import { confirms, parseCommandRequest, publications } from '../../../src/core/command.ts'
import { createRng } from '../../../src/core/random.ts'
import { handleCommand } from '../../../src/stages/simulator/commands.ts'
import { createDeviceState } from '../../../src/stages/simulator/device.ts'
import { generateFleet } from '../../../src/stages/simulator/fleet.ts'

const stamp = (): string => '2026-01-01 00:00:00.000001'

/**
 * The simulated controller's replies are enough to confirm every command kind: each command's
 * MQTT messages, obeyed in order, give at least one reply that `confirms` accepts.
 * Generated controllers have J1 in access-control mode and J2 in alarm mode.
 */
describe('simulator replies confirm every command kind', () => {
  const [controller] = generateFleet(1, 11)
  if (controller === undefined) throw new Error('no controller')
  const state = createDeviceState(controller, createRng(11))
  const mac = controller.mac

  it.each([
    { kind: 'strike', connector: 1, position: 1, action: 'power' },
    { kind: 'strike', connector: 1, position: 1, action: 'unpower' },
    { kind: 'strike', connector: 1, position: 2, action: 'toggle', period: 2 },
    { kind: 'siren', connector: 2, position: 1, state: 'on' },
    { kind: 'siren', connector: 2, position: 1, state: 'off' },
    { kind: 'reader-feedback', connector: 1, position: 1, signal: 'success' },
    { kind: 'reader-feedback', connector: 1, position: 2, signal: 'fail1' },
    { kind: 'reader-feedback', connector: 1, position: 2, signal: 'fail2' },
    { kind: 'status', connector: 1, position: 2, component: 'strike' },
    { kind: 'status', connector: 2, position: 2, component: 'siren' }
  ])('%j', body => {
    const { spec } = parseCommandRequest(body)
    const replies = publications(mac, spec).flatMap(p => {
      const outcome = handleCommand(state, p.topic, p.payload, stamp)
      expect(outcome.result, p.topic).toBe('ok')
      return outcome.replies
    })
    expect(replies.some(r => confirms(mac, spec, r.topic, r.payload))).toBe(true)
  })

  it('a reply to another command does not confirm', () => {
    const power = parseCommandRequest({ kind: 'strike', connector: 1, position: 1, action: 'power' }).spec
    const unpowered = handleCommand(state, `cmnd/f2-${mac}/access-control-mode/J1/strike-1`, '{"power-flag": 0}', stamp).replies
    expect(unpowered.some(r => confirms(mac, power, r.topic, r.payload))).toBe(false)
  })
})
