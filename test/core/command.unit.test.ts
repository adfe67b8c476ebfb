import { describe, expect, it } from 'vitest'
import {
  checkTarget, confirms, parseCommandRequest, publications, replyTopic, TTL_LIMITS, type CommandSpec, type CommandWiring
} from '../../src/core/command.ts'
import { ErrorCodes, F2Error } from '../../src/core/errors.ts'
import { formatPythonBytesLiteral } from '../../src/core/python-bytes.ts'

const MAC = 'e4fd45f654be'

function refusal (fn: () => unknown): { code: string, details: unknown } {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(F2Error)
    return { code: (err as F2Error).code, details: (err as F2Error).details }
  }
  throw new Error('expected a refusal')
}

describe('parseCommandRequest', () => {
  it.each([
    [{ kind: 'strike', connector: 2, position: 1, action: 'power' }, { kind: 'strike', connector: 2, position: 1, action: 'power' }],
    [{ kind: 'strike', connector: 2, position: 2, action: 'toggle', period: 3 }, { kind: 'strike', connector: 2, position: 2, action: 'toggle', period: 3 }],
    [{ kind: 'siren', connector: 1, position: 2, state: 'off' }, { kind: 'siren', connector: 1, position: 2, state: 'off' }],
    [{ kind: 'reader-feedback', connector: 4, position: 1, signal: 'fail2' }, { kind: 'reader-feedback', connector: 4, position: 1, signal: 'fail2' }],
    [{ kind: 'status', connector: 3, position: 1, component: 'siren' }, { kind: 'status', connector: 3, position: 1, component: 'siren' }]
  ])('accepts %j', (body, spec) => {
    expect(parseCommandRequest(body)).toEqual({ spec, ttlS: TTL_LIMITS.default })
  })

  it('takes ttl_s, or the default it is given', () => {
    expect(parseCommandRequest({ kind: 'status', connector: 1, position: 1, component: 'strike', ttl_s: 600 }).ttlS).toBe(600)
    expect(parseCommandRequest({ kind: 'status', connector: 1, position: 1, component: 'strike' }, 90).ttlS).toBe(90)
  })

  it.each([
    [null, 'body'],
    [[1], 'body'],
    ['strike', 'body'],
    [{}, 'kind'],
    [{ kind: 'reboot', connector: 1, position: 1 }, 'kind'],
    [{ kind: 'strike', connector: 0, position: 1, action: 'power' }, 'connector'],
    [{ kind: 'strike', connector: 5, position: 1, action: 'power' }, 'connector'],
    [{ kind: 'strike', connector: '1', position: 1, action: 'power' }, 'connector'],
    [{ kind: 'strike', connector: 1, position: 3, action: 'power' }, 'position'],
    [{ kind: 'strike', connector: 1, position: 1.5, action: 'power' }, 'position'],
    [{ kind: 'strike', connector: 1, position: 1, action: 'open' }, 'action'],
    [{ kind: 'strike', connector: 1, position: 1, action: 'toggle' }, 'period'],
    [{ kind: 'strike', connector: 1, position: 1, action: 'toggle', period: 0 }, 'period'],
    [{ kind: 'strike', connector: 1, position: 1, action: 'toggle', period: 256 }, 'period'],
    [{ kind: 'strike', connector: 1, position: 1, action: 'power', period: 3 }, 'period'],
    [{ kind: 'strike', connector: 1, position: 1, action: 'power', state: 'on' }, 'state'],
    [{ kind: 'siren', connector: 1, position: 1, state: 1 }, 'state'],
    [{ kind: 'reader-feedback', connector: 1, position: 1, signal: 'fail3' }, 'signal'],
    [{ kind: 'status', connector: 1, position: 1, component: 'reader' }, 'component'],
    [{ kind: 'status', connector: 1, position: 1, component: 'siren', ttl_s: 0 }, 'ttl_s'],
    [{ kind: 'status', connector: 1, position: 1, component: 'siren', ttl_s: TTL_LIMITS.max + 1 }, 'ttl_s']
  ])('refuses %j (field %s)', (body, field) => {
    expect(refusal(() => parseCommandRequest(body))).toEqual({ code: ErrorCodes.COMMAND_INVALID, details: { field } })
  })
})

describe('checkTarget', () => {
  const wiring: CommandWiring = {
    connectors: [
      { number: 1, mode: 'sensor-mode', positions: [1, 2] },
      { number: 2, mode: 'access-control-mode', positions: [1] },
      { number: 3, mode: 'alarm-mode', positions: [1, 2] },
      { number: 4, mode: null, positions: [1] }
    ]
  }
  const spec = (body: Record<string, unknown>): CommandSpec => parseCommandRequest(body).spec

  it('accepts a connector of the right mode with the position', () => {
    expect(() => { checkTarget(spec({ kind: 'strike', connector: 2, position: 1, action: 'power' }), wiring) }).not.toThrow()
    expect(() => { checkTarget(spec({ kind: 'reader-feedback', connector: 2, position: 1, signal: 'success' }), wiring) }).not.toThrow()
    expect(() => { checkTarget(spec({ kind: 'siren', connector: 3, position: 2, state: 'on' }), wiring) }).not.toThrow()
    expect(() => { checkTarget(spec({ kind: 'status', connector: 3, position: 1, component: 'siren' }), wiring) }).not.toThrow()
  })

  it.each([
    [{ kind: 'strike', connector: 2, position: 1, action: 'power' }, null, 'controller'],
    [{ kind: 'strike', connector: 3, position: 1, action: 'power' }, wiring, 'mode'],
    [{ kind: 'siren', connector: 2, position: 1, state: 'on' }, wiring, 'mode'],
    [{ kind: 'siren', connector: 1, position: 1, state: 'on' }, wiring, 'mode'],
    [{ kind: 'status', connector: 4, position: 1, component: 'strike' }, wiring, 'mode'],
    [{ kind: 'strike', connector: 2, position: 2, action: 'power' }, wiring, 'position'],
    [{ kind: 'siren', connector: 1, position: 1, state: 'on' }, { connectors: [] }, 'connector']
  ])('refuses %j (%s)', (body, w, reason) => {
    const r = refusal(() => { checkTarget(spec(body), w) })
    expect([r.code, (r.details as { reason: string }).reason]).toEqual([ErrorCodes.COMMAND_TARGET_UNKNOWN, reason])
  })
})

describe('publications and replies', () => {
  const acm = `f2-${MAC}/access-control-mode/J2`
  const alarm = `f2-${MAC}/alarm-mode/J3`
  const stat = (status: unknown): string => JSON.stringify({ timestamp: '2024-05-01T00:00:00.000000Z', status })
  const frame = JSON.stringify({ timestamp: '2024-05-01T00:00:00.000000Z', data: formatPythonBytesLiteral(Uint8Array.from([2, 2, 1, 0, 0, 0, 3, 3])) })
  const scan = JSON.stringify({ timestamp: '2024-05-01T00:00:00.000000Z', data: "b'\"Hello\"'" })

  it.each([
    [{ kind: 'strike', connector: 2, position: 1, action: 'power' }, [[`cmnd/${acm}/strike-1`, '{"power-flag":1}']]],
    [{ kind: 'strike', connector: 2, position: 1, action: 'unpower' }, [[`cmnd/${acm}/strike-1`, '{"power-flag":0}']]],
    [{ kind: 'strike', connector: 2, position: 2, action: 'toggle', period: 5 }, [[`cmnd/${acm}/strike-2`, '{"power-flag":2,"period":5}']]],
    [{ kind: 'siren', connector: 3, position: 1, state: 'on' }, [[`cmnd/${alarm}/siren-1`, '1'], [`cmnd/${alarm}/siren-1`, '']]],
    [{ kind: 'siren', connector: 3, position: 1, state: 'off' }, [[`cmnd/${alarm}/siren-1`, '0'], [`cmnd/${alarm}/siren-1`, '']]],
    [{ kind: 'reader-feedback', connector: 2, position: 2, signal: 'success' }, [[`cmnd/${acm}/reader-2/success`, '1']]],
    [{ kind: 'reader-feedback', connector: 2, position: 2, signal: 'fail1' }, [[`cmnd/${acm}/reader-2/success`, '2']]],
    [{ kind: 'reader-feedback', connector: 2, position: 2, signal: 'fail2' }, [[`cmnd/${acm}/reader-2/success`, '3']]],
    [{ kind: 'status', connector: 2, position: 1, component: 'strike' }, [[`cmnd/${acm}/strike-1`, '']]]
  ])('%j is published as %j', (body, expected) => {
    expect(publications(MAC, parseCommandRequest(body).spec).map(p => [p.topic, p.payload])).toEqual(expected)
  })

  it.each([
    [{ kind: 'strike', connector: 2, position: 1, action: 'power' }, `stat/${acm}/strike-1`, stat(true), true],
    [{ kind: 'strike', connector: 2, position: 1, action: 'power' }, `stat/${acm}/strike-1`, stat(false), false],
    [{ kind: 'strike', connector: 2, position: 1, action: 'unpower' }, `stat/${acm}/strike-1`, stat(false), true],
    [{ kind: 'strike', connector: 2, position: 1, action: 'power' }, `stat/${acm}/strike-2`, stat(true), false],
    [{ kind: 'strike', connector: 2, position: 1, action: 'power' }, `stat/f2-000000000001/access-control-mode/J2/strike-1`, stat(true), false],
    [{ kind: 'strike', connector: 2, position: 1, action: 'toggle', period: 3 }, `stat/${acm}/strike-1`, stat(false), true],
    [{ kind: 'strike', connector: 2, position: 1, action: 'toggle', period: 3 }, `stat/${acm}/strike-1`, stat('yes'), false],
    [{ kind: 'strike', connector: 2, position: 1, action: 'toggle', period: 3 }, `stat/${acm}/strike-1`, 'not json', false],
    [{ kind: 'siren', connector: 3, position: 1, state: 'on' }, `stat/${alarm}/siren-1`, stat(true), true],
    [{ kind: 'siren', connector: 3, position: 1, state: 'on' }, `stat/${alarm}/siren-1`, stat(false), false],
    [{ kind: 'siren', connector: 3, position: 1, state: 'off' }, `stat/${alarm}/siren-1`, stat(false), true],
    [{ kind: 'status', connector: 3, position: 1, component: 'siren' }, `stat/${alarm}/siren-1`, stat(false), true],
    [{ kind: 'status', connector: 3, position: 1, component: 'siren' }, `cmnd/${alarm}/siren-1`, stat(false), false],
    [{ kind: 'reader-feedback', connector: 2, position: 1, signal: 'success' }, `tele/${acm}/reader-1`, frame, true],
    [{ kind: 'reader-feedback', connector: 2, position: 1, signal: 'success' }, `tele/${acm}/reader-1`, scan, false],
    [{ kind: 'reader-feedback', connector: 2, position: 1, signal: 'success' }, `tele/${acm}/reader-2`, frame, false],
    [{ kind: 'reader-feedback', connector: 2, position: 1, signal: 'success' }, `stat/${acm}/reader-1`, frame, false]
  ])('%j is confirmed by %s %s: %s', (body, topic, payload, expected) => {
    expect(confirms(MAC, parseCommandRequest(body).spec, topic, payload)).toBe(expected)
  })

  it('names the reply topic of each kind', () => {
    expect(replyTopic(MAC, parseCommandRequest({ kind: 'reader-feedback', connector: 2, position: 1, signal: 'success' }).spec)).toBe(`tele/${acm}/reader-1`)
    expect(replyTopic(MAC, parseCommandRequest({ kind: 'siren', connector: 3, position: 2, state: 'on' }).spec)).toBe(`stat/${alarm}/siren-2`)
  })
})
