/** One sample of the Prometheus text exposition format. */
export interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/** What `/metrics` declared and exposed: types by family name, and every sample. */
export interface Exposition {
  types: Map<string, string>
  help: Map<string, string>
  samples: Sample[]
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y

/**
 * Parses Prometheus text format 0.0.4. Throws on a line that is not a comment, a blank or a
 * well-formed sample, so a test that parses a service's `/metrics` fails on malformed output.
 */
export function parseExposition (text: string): Exposition {
  const types = new Map<string, string>()
  const help = new Map<string, string>()
  const samples: Sample[] = []
  const lines = text.split('\n')
  for (let n = 0; n < lines.length; n++) {
    const line = (lines[n] as string).trim()
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = /^#\s+(TYPE|HELP)\s+(\S+)\s*(.*)$/.exec(line)
      if (m?.[1] === 'TYPE') types.set(m[2] as string, m[3] as string)
      else if (m?.[1] === 'HELP') help.set(m[2] as string, m[3] as string)
      continue
    }
    const m = SAMPLE.exec(line)
    if (m === null) throw new Error(`line ${n + 1}: not a sample: ${line}`)
    const labels: Record<string, string> = {}
    const body = m[3] ?? ''
    LABEL.lastIndex = 0
    while (LABEL.lastIndex < body.length) {
      const start = LABEL.lastIndex
      const l = LABEL.exec(body)
      if (l === null || LABEL.lastIndex === start) throw new Error(`line ${n + 1}: bad labels: ${body}`)
      labels[l[1] as string] = (l[2] as string).replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
    }
    // Like Prometheus (Go's ParseFloat), special values are case-insensitive: prom-client writes `Nan`.
    const raw = (m[4] as string).toLowerCase()
    const value = raw === '+inf' || raw === 'inf' ? Infinity : raw === '-inf' ? -Infinity : raw === 'nan' ? NaN : Number(raw)
    if (Number.isNaN(value) && raw !== 'nan') throw new Error(`line ${n + 1}: bad value: ${m[4]}`)
    samples.push({ name: m[1] as string, labels, value })
  }
  return { types, help, samples }
}
