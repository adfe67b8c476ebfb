import { join } from 'node:path'

/**
 * A file of templates/ (at the project root): the configuration the native stack renders
 * for its servers or hands to them as is (Kafka, Mosquitto). Runtime copies go under .stack/.
 */
export function templatePath (root: string, ...parts: string[]): string {
  return join(root, 'templates', ...parts)
}
