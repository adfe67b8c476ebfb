import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from './compose.ts'

/** One Dockerfile instruction: its keyword, raw arguments and, in exec form, the JSON array. */
export interface Instruction { keyword: string, args: string, exec: string[] | undefined, line: number }
export interface Stage { name: string, from: string, instructions: Instruction[] }
export interface Dockerfile { args: Map<string, string>, stages: Stage[] }

function execForm (args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined
  try {
    const parsed: unknown = JSON.parse(args)
    return Array.isArray(parsed) && parsed.every(a => typeof a === 'string') ? parsed : undefined
  } catch {
    return undefined
  }
}

/**
 * A small Dockerfile reader, enough for this project's file: comments, `\` continuations
 * (comment lines inside them are dropped, as Docker does), global ARGs before the first FROM
 * and named stages.
 */
export function parseDockerfile (text: string): Dockerfile {
  const args = new Map<string, string>()
  const stages: Stage[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const start = i
    let current = lines[i] ?? ''
    if (/^\s*(#|$)/.test(current)) continue
    while (current.endsWith('\\') && i + 1 < lines.length) {
      i++
      const next = lines[i] ?? ''
      current = /^\s*#/.test(next) ? current : `${current.slice(0, -1)} ${next.trim()}`
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(current)
    if (m === null) throw new Error(`Dockerfile line ${start + 1}: cannot parse "${current}"`)
    const keyword = (m[1] as string).toUpperCase()
    const rest = (m[2] as string).trim()
    const instruction: Instruction = { keyword, args: rest, exec: execForm(rest), line: start + 1 }
    if (keyword === 'FROM') {
      const from = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest)
      stages.push({ name: from?.[2] ?? String(stages.length), from: from?.[1] ?? rest, instructions: [] })
    } else if (stages.length === 0) {
      if (keyword !== 'ARG') throw new Error(`Dockerfile line ${start + 1}: ${keyword} before FROM`)
      const [name = '', value = ''] = rest.split('=')
      args.set(name, value)
    } else {
      (stages[stages.length - 1] as Stage).instructions.push(instruction)
    }
  }
  return { args, stages }
}

export const readDockerfile = (): Dockerfile => parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))

/** `FROM` image with the global ARGs substituted. */
export function resolvedImage (file: Dockerfile, stage: Stage): string {
  return stage.from.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => file.args.get(a ?? b ?? '') ?? '')
}

/** COPY arguments: flags (`--from=x`), sources and destination. */
export function copyParts (instruction: Instruction): { flags: Map<string, string>, sources: string[], dest: string } {
  const words = instruction.exec ?? instruction.args.split(/\s+/)
  const flags = new Map<string, string>()
  const rest: string[] = []
  for (const word of words) {
    const flag = /^--([a-z-]+)=(.*)$/.exec(word)
    if (flag !== null && rest.length === 0) flags.set(flag[1] as string, flag[2] as string)
    else rest.push(word)
  }
  return { flags, sources: rest.slice(0, -1), dest: rest[rest.length - 1] ?? '' }
}
