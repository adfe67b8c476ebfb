/**
 * RFC 4180 CSV: CRLF line ends, a header line, fields holding a comma, a double quote, CR or
 * LF enclosed in double quotes with inner quotes doubled. null/undefined is an empty field.
 */
export function csvField (value: unknown): string {
  if (value === null || value === undefined) return ''
  const text = typeof value === 'string' ? value : typeof value === 'object' ? JSON.stringify(value) : String(value)
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function toCsv (columns: readonly string[], rows: ReadonlyArray<Record<string, unknown>>): string {
  const lines = [columns.map(csvField).join(',')]
  for (const row of rows) lines.push(columns.map(c => csvField(row[c])).join(','))
  return `${lines.join('\r\n')}\r\n`
}
