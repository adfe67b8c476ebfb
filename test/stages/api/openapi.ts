import { readFileSync } from 'node:fs'
import { Ajv2020 } from 'ajv/dist/2020.js'

/**
 * Validates real responses against docs/api/openapi.json: the operation must document the
 * status and content type, and the body must match that response's schema (JSON Schema
 * 2020-12, which OpenAPI 3.1 uses, checked by Ajv; `$ref`s resolve inside the document).
 */
const DOC_ID = 'https://f2.invalid/openapi.json'
export const openapiDoc = JSON.parse(readFileSync(new URL('../../../docs/api/openapi.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }>, parameters?: Array<{ name: string }> }>>
  components: { schemas: Record<string, unknown> }
}

const ajv = new Ajv2020({ strict: false, allErrors: true })
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/)
ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i)
ajv.addSchema({ ...openapiDoc, $id: DOC_ID })

const pointer = (...parts: string[]): string => parts.map(p => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')

/** Every (path, method, status, media type) a test has validated: to check the document is covered. */
export const validated = new Set<string>()

export function validateResponse (pathTemplate: string, method: string, status: number, contentType: string, body: unknown): void {
  const op = openapiDoc.paths[pathTemplate]?.[method.toLowerCase()]
  if (op === undefined) throw new Error(`${method} ${pathTemplate} is not in the OpenAPI document`)
  const response = op.responses[String(status)]
  if (response === undefined) throw new Error(`${method} ${pathTemplate}: status ${status} is not documented`)
  const media = contentType.split(';')[0]?.trim() ?? ''
  if (response.content?.[media] === undefined) throw new Error(`${method} ${pathTemplate} ${status}: ${media} is not documented`)
  const validate = ajv.getSchema(`${DOC_ID}#/${pointer('paths', pathTemplate, method.toLowerCase(), 'responses', String(status), 'content', media, 'schema')}`)
  if (validate === undefined) throw new Error('schema not found')
  if (!validate(body)) throw new Error(`${method} ${pathTemplate} ${status}: body does not match the document: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 2000)}`)
  validated.add(`${method.toUpperCase()} ${pathTemplate} ${status} ${media}`)
}
