import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import type { SecondPoint } from './account.ts'

/**
 * A small self-made SVG: messages landed per second (left axis, bars) and p99 device → row
 * latency per second (right axis, line), with the measurement window shaded.
 */
export function throughputSvg (series: SecondPoint[], window: { from: number, to: number }, title: string, marks: Array<{ t: number, label: string }> = []): string {
  const W = 900
  const H = 340
  const m = { l: 70, r: 70, t: 36, b: 40 }
  const pw = W - m.l - m.r
  const ph = H - m.t - m.b
  const tMax = Math.max(1, ...series.map(p => p.t + 1), window.to)
  const yMax = niceCeil(Math.max(1, ...series.map(p => p.messages)))
  const lMax = niceCeil(Math.max(0.01, ...series.map(p => p.p99 ?? 0)))
  const x = (t: number): number => m.l + (t / tMax) * pw
  const y = (v: number): number => m.t + ph - (v / yMax) * ph
  const yl = (v: number): number => m.t + ph - (v / lMax) * ph
  const bw = Math.max(1, pw / tMax - 1)
  const out: string[] = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#fff"/>`)
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(title)}</text>`)
  out.push(`<rect x="${x(window.from)}" y="${m.t}" width="${Math.max(0, x(window.to) - x(window.from))}" height="${ph}" fill="#eef5ff"/>`)
  for (let i = 0; i <= 4; i++) {
    const v = (yMax / 4) * i
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`)
    out.push(`<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end" fill="#1f5fbf">${fmt(v)}</text>`)
    const lv = (lMax / 4) * i
    out.push(`<text x="${m.l + pw + 6}" y="${yl(lv) + 4}" fill="#c0392b">${fmt(lv)} s</text>`)
  }
  for (const p of series) out.push(`<rect x="${x(p.t)}" y="${y(p.messages)}" width="${bw}" height="${m.t + ph - y(p.messages)}" fill="#1f5fbf" opacity="0.7"/>`)
  const line = series.filter(p => p.p99 !== null).map(p => `${x(p.t + 0.5).toFixed(1)},${yl(p.p99 as number).toFixed(1)}`).join(' ')
  if (line !== '') out.push(`<polyline points="${line}" fill="none" stroke="#c0392b" stroke-width="1.5"/>`)
  for (const mk of marks) {
    out.push(`<line x1="${x(mk.t)}" x2="${x(mk.t)}" y1="${m.t}" y2="${m.t + ph}" stroke="#555" stroke-dasharray="4 3"/>`)
    out.push(`<text x="${x(mk.t) + 3}" y="${m.t + 12}" fill="#333">${esc(mk.label)}</text>`)
  }
  for (let t = 0; t <= tMax; t += tickStep(tMax)) out.push(`<text x="${x(t)}" y="${m.t + ph + 16}" text-anchor="middle">${t}</text>`)
  out.push(`<text x="${m.l + pw / 2}" y="${H - 6}" text-anchor="middle">seconds since start (landing time)</text>`)
  out.push(`<text x="16" y="${m.t + ph / 2}" transform="rotate(-90 16 ${m.t + ph / 2})" text-anchor="middle" fill="#1f5fbf">messages landed / s</text>`)
  out.push(`<text x="${W - 12}" y="${m.t + ph / 2}" transform="rotate(90 ${W - 12} ${m.t + ph / 2})" text-anchor="middle" fill="#c0392b">p99 device → row latency</text>`)
  out.push('</svg>')
  return out.join('\n')
}

function niceCeil (v: number): number {
  const p = 10 ** Math.floor(Math.log10(v))
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= v) return k * p
  return 10 * p
}

function tickStep (tMax: number): number {
  for (const s of [5, 10, 20, 30, 60, 120, 300]) if (tMax / s <= 12) return s
  return 600
}

function fmt (v: number): string {
  if (v >= 1000) return `${Math.round(v / 100) / 10}k`
  if (v >= 10) return String(Math.round(v))
  return String(Math.round(v * 100) / 100)
}

function esc (s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

export function writeFile (path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true })
  writeFileSync(path, text)
}

export function table (header: string[], rows: Array<Array<string | number>>): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map(r => `| ${r.join(' | ')} |`)].join('\n')
}
