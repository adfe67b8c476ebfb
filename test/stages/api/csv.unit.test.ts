import { describe, expect, it } from 'vitest'
import { csvField, toCsv } from '../../../src/stages/api/csv.ts'
import { parseCsv } from './csv-reader.ts'

describe('CSV (RFC 4180)', () => {
  it.each([
    ['plain', 'plain'], ['a,b', '"a,b"'], ['say "hi"', '"say ""hi"""'], ['two\nlines', '"two\nlines"'], ['cr\r', '"cr\r"'],
    [null, ''], [undefined, ''], [21.5, '21.5'], [true, 'true'], ['°C', '°C'], ['', '']
  ])('%j → %j', (value, text) => {
    expect(csvField(value)).toBe(text)
  })

  it('has a header line and CRLF line ends, every line with the same number of fields', () => {
    const text = toCsv(['a', 'b'], [{ a: 'x,y', b: null }, { a: 1, b: 'q"' }])
    expect(text).toBe('a,b\r\n"x,y",\r\n1,"q"""\r\n')
  })

  it('parses back to the same fields (a minimal RFC 4180 reader)', () => {
    const rows = [{ a: 'comma, here', b: 'quote " here', c: 'newline\r\nhere' }, { a: '', b: null, c: 'end' }]
    expect(parseCsv(toCsv(['a', 'b', 'c'], rows))).toEqual([['a', 'b', 'c'], ['comma, here', 'quote " here', 'newline\r\nhere'], ['', '', 'end']])
  })
})
