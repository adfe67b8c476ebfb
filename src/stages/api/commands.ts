import type { IncomingMessage } from 'node:http'
import { checkTarget, parseCommandRequest, type CommandRequest, type CommandWiring } from '../../core/command.ts'
import { ErrorCodes, F2Error, isF2Error } from '../../core/errors.ts'
import type { Row } from './command-store.ts'
import { invalid } from './params.ts'

/** Largest command body read; a command is a handful of fields. */
export const COMMAND_BODY_MAX_BYTES = 4096
/** Page size of a device's command history. */
export const COMMAND_PAGE = Object.freeze({ default: 50, max: 500 })

/** What the command routes need of the registry database (the real one is CommandStore). */
export interface CommandBook {
  wiring: (mac: string) => Promise<CommandWiring | null>
  accept: (mac: string, request: CommandRequest, tokenId: string, received: unknown) => Promise<Row>
  refuse: (mac: string, tokenId: string, received: unknown, reason: string) => Promise<void>
  get: (id: string) => Promise<Row | undefined>
  list: (mac: string, limit: number, before?: string) => Promise<Row[]>
}

/**
 * Hands an accepted command on towards the controller (the `device_commands` Kafka topic,
 * keyed by MAC). Resolves once the next hop holds it; the API answers only then.
 */
export type CommandQueue = (command: Row) => Promise<void>

function bodyError (message: string): F2Error {
  return new F2Error(ErrorCodes.COMMAND_INVALID, `body: ${message}`, { details: { field: 'body' } })
}

/**
 * The request body as JSON: `content-type: application/json`, at most COMMAND_BODY_MAX_BYTES
 * (a larger body is refused without reading the rest). Throws F2_COMMAND_INVALID.
 */
export async function readJsonBody (req: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) throw bodyError('expected content-type application/json')
  const declared = Number(req.headers['content-length'] ?? 0)
  if (declared > COMMAND_BODY_MAX_BYTES) throw bodyError(`at most ${COMMAND_BODY_MAX_BYTES} bytes`)
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > COMMAND_BODY_MAX_BYTES) throw bodyError(`at most ${COMMAND_BODY_MAX_BYTES} bytes`)
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown
  } catch {
    throw bodyError('not valid JSON')
  }
}

/**
 * Validates a command for `mac` (body, then the registry's wiring), records it as accepted
 * with its audit row and queues it. A refusal (400) is audited with its code and nothing is
 * sent. Returns the command as recorded.
 */
export async function submitCommand (book: CommandBook, queue: CommandQueue | undefined, mac: string, tokenId: string, body: unknown, defaultTtlS: number): Promise<Row> {
  let request: CommandRequest
  try {
    request = parseCommandRequest(body, defaultTtlS)
    checkTarget(request.spec, await book.wiring(mac))
  } catch (err) {
    if (isF2Error(err)) await book.refuse(mac, tokenId, body, err.code)
    throw err
  }
  const command = await book.accept(mac, request, tokenId, body)
  if (queue !== undefined) await queue(command)
  return command
}

/** `GET /api/devices/{mac}/commands?limit&cursor` */
export function parseCommandList (params: URLSearchParams): { limit: number, before?: string } {
  let limit: number = COMMAND_PAGE.default
  let before: string | undefined
  const seen = new Set<string>()
  for (const [key, value] of params) {
    if (seen.has(key)) throw invalid(key, 'given more than once')
    seen.add(key)
    if (key === 'limit') {
      if (!/^\d{1,4}$/.test(value) || Number(value) < 1 || Number(value) > COMMAND_PAGE.max) throw invalid('limit', `expected an integer from 1 to ${COMMAND_PAGE.max}`)
      limit = Number(value)
    } else if (key === 'cursor') {
      before = parseCommandId(value, 'cursor')
    } else {
      throw invalid(key, 'unknown parameter (accepted: limit, cursor)')
    }
  }
  return before === undefined ? { limit } : { limit, before }
}

/** A command id (a UUID, any case), lowercased. */
export function parseCommandId (raw: string, parameter = 'id'): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(raw)) throw invalid(parameter, 'expected a command id (a UUID)')
  return raw.toLowerCase()
}
