/**
 * Every error this product raises or records carries one of these codes.
 * Dead-letter records use the code as their `reason`, metrics use it as a label,
 * and docs/operations/error-codes.md documents each one (a test keeps them in step).
 */
export const ErrorCodes = {
  // configuration
  CONFIG_INVALID: 'F2_CONFIG_INVALID',
  // topics
  TOPIC_INVALID: 'F2_TOPIC_INVALID',
  TOPIC_UNKNOWN_COMPONENT: 'F2_TOPIC_UNKNOWN_COMPONENT',
  // payloads
  PAYLOAD_NOT_JSON: 'F2_PAYLOAD_NOT_JSON',
  PAYLOAD_INVALID: 'F2_PAYLOAD_INVALID',
  PAYLOAD_TOO_LARGE: 'F2_PAYLOAD_TOO_LARGE',
  PAYLOAD_COMMAND: 'F2_PAYLOAD_COMMAND',
  TIMESTAMP_INVALID: 'F2_TIMESTAMP_INVALID',
  HEX_INVALID: 'F2_HEX_INVALID',
  MODBUS_CRC_MISMATCH: 'F2_MODBUS_CRC_MISMATCH',
  MODBUS_FRAME_INVALID: 'F2_MODBUS_FRAME_INVALID',
  DATAPOINT_OUT_OF_RANGE: 'F2_DATAPOINT_OUT_OF_RANGE',
  DATAPOINT_FORMAT_UNSUPPORTED: 'F2_DATAPOINT_FORMAT_UNSUPPORTED',
  DATAPOINT_NOT_FINITE: 'F2_DATAPOINT_NOT_FINITE',
  ENVELOPE_INVALID: 'F2_ENVELOPE_INVALID',
  MEASUREMENT_INVALID: 'F2_MEASUREMENT_INVALID',
  // registry
  REGISTRY_UNKNOWN_CONTROLLER: 'F2_REGISTRY_UNKNOWN_CONTROLLER',
  REGISTRY_UNWIRED_PIN: 'F2_REGISTRY_UNWIRED_PIN',
  REGISTRY_NO_DATAPOINTS: 'F2_REGISTRY_NO_DATAPOINTS',
  REGISTRY_UNAVAILABLE: 'F2_REGISTRY_UNAVAILABLE',
  // transport and storage
  KAFKA_UNAVAILABLE: 'F2_KAFKA_UNAVAILABLE',
  KAFKA_PRODUCE_FAILED: 'F2_KAFKA_PRODUCE_FAILED',
  MQTT_UNAVAILABLE: 'F2_MQTT_UNAVAILABLE',
  DB_UNAVAILABLE: 'F2_DB_UNAVAILABLE',
  DB_ROW_REJECTED: 'F2_DB_ROW_REJECTED',
  // stack / lifecycle
  PORT_IN_USE: 'F2_PORT_IN_USE',
  STACK_START_FAILED: 'F2_STACK_START_FAILED',
  STOP_TIMEOUT: 'F2_STOP_TIMEOUT',
  // appended (append only, never rename)
  DATAPOINT_ENCODING_UNSUPPORTED: 'F2_DATAPOINT_ENCODING_UNSUPPORTED',
  DATAPOINT_DEFINITION_INVALID: 'F2_DATAPOINT_DEFINITION_INVALID',
  DEAD_LETTER_INVALID: 'F2_DEAD_LETTER_INVALID',
  MIGRATION_FAILED: 'F2_MIGRATION_FAILED',
  MIGRATION_CHECKSUM_MISMATCH: 'F2_MIGRATION_CHECKSUM_MISMATCH',
  REGISTRY_INVALID_CHANGE: 'F2_REGISTRY_INVALID_CHANGE',
  // read API (HTTP status in src/stages/api/problem.ts)
  API_PARAMETER_INVALID: 'F2_API_PARAMETER_INVALID',
  API_RANGE_TOO_LARGE: 'F2_API_RANGE_TOO_LARGE',
  API_UNAUTHORIZED: 'F2_API_UNAUTHORIZED',
  API_FORBIDDEN: 'F2_API_FORBIDDEN',
  API_NOT_FOUND: 'F2_API_NOT_FOUND',
  API_METHOD_NOT_ALLOWED: 'F2_API_METHOD_NOT_ALLOWED',
  API_TOKEN_INVALID_CHANGE: 'F2_API_TOKEN_INVALID_CHANGE',
  API_INTERNAL: 'F2_API_INTERNAL',
  // size limits, time window, conflicting rows
  RECORD_TOO_LARGE: 'F2_RECORD_TOO_LARGE',
  RECORD_REJECTED: 'F2_RECORD_REJECTED',
  TIMESTAMP_OUT_OF_WINDOW: 'F2_TIMESTAMP_OUT_OF_WINDOW',
  CONFLICTING_DUPLICATE: 'F2_CONFLICTING_DUPLICATE',
  // broker accounts
  BROKER_ACCESS_FAILED: 'F2_BROKER_ACCESS_FAILED',
  // cloud-to-device commands
  COMMAND_INVALID: 'F2_COMMAND_INVALID',
  COMMAND_TARGET_UNKNOWN: 'F2_COMMAND_TARGET_UNKNOWN',
  COMMAND_NOT_PUBLISHABLE: 'F2_COMMAND_NOT_PUBLISHABLE'
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

export interface F2ErrorOptions {
  cause?: unknown
  retryable?: boolean
  details?: Record<string, unknown>
}

/** Base error: match on `code`, never on `message`. */
export class F2Error extends Error {
  readonly code: ErrorCode
  readonly retryable: boolean
  readonly details: Record<string, unknown> | undefined

  constructor (code: ErrorCode, message: string, options: F2ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'F2Error'
    this.code = code
    this.retryable = options.retryable ?? false
    this.details = options.details
  }
}

export function isF2Error (value: unknown): value is F2Error {
  return value instanceof F2Error
}
