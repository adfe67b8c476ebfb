import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { X509Certificate } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { ensurePki, issueClientCertificate } from '../../src/broker/pki.ts'

const dir = mkdtempSync(join(tmpdir(), 'f2-pki-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('project CA', () => {
  it('creates the CA and the broker certificate once, keys 0600, and keeps them on a second call', () => {
    const p = ensurePki(dir, ['mosquitto', 'localhost', '127.0.0.1'])
    expect(statSync(p.caKey).mode & 0o777).toBe(0o600)
    expect(statSync(p.serverKey).mode & 0o777).toBe(0o600)
    const ca = new X509Certificate(readFileSync(p.caCert))
    const server = new X509Certificate(readFileSync(p.serverCert))
    expect(ca.ca).toBe(true)
    expect(server.verify(ca.publicKey)).toBe(true)
    expect(server.subjectAltName).toBe('DNS:mosquitto, DNS:localhost, IP Address:127.0.0.1')
    const before = readFileSync(p.caCert, 'utf8')
    ensurePki(dir, ['other'])
    expect(readFileSync(p.caCert, 'utf8')).toBe(before)
  })

  it('issues a client certificate whose CN is the controller account, signed by the CA', () => {
    const p = ensurePki(dir, ['localhost'])
    const issued = issueClientCertificate(p, 'f2-aabbccddeeff')
    const cert = new X509Certificate(issued.certPem)
    expect(cert.subject).toContain('CN=f2-aabbccddeeff')
    expect(cert.verify(new X509Certificate(readFileSync(p.caCert)).publicKey)).toBe(true)
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2'])
    expect(execFileSync('openssl', ['verify', '-CAfile', p.caCert], { input: issued.certPem, encoding: 'utf8' })).toContain('OK')
    expect(() => issueClientCertificate(p, 'bad name/../x')).toThrow(TypeError)
  })
})
