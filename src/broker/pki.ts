import { execFileSync } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The project's certificate authority: a CA key and certificate, the broker's server
 * certificate, and controller certificates issued on demand. Everything is made with the
 * openssl CLI (EC P-256, SHA-256) into one directory kept out of git (`.stack/pki` natively,
 * the `mosquitto-pki` volume in compose). The CA key is 0600; nothing here is ever overwritten,
 * so a second start keeps the CA every issued certificate chains to.
 */
export interface PkiPaths {
  dir: string
  caKey: string
  caCert: string
  serverKey: string
  serverCert: string
}

export function pkiPaths (dir: string): PkiPaths {
  return {
    dir,
    caKey: join(dir, 'ca.key'),
    caCert: join(dir, 'ca.crt'),
    serverKey: join(dir, 'server.key'),
    serverCert: join(dir, 'server.crt')
  }
}

const CA_DAYS = 3650
const SERVER_DAYS = 825
const CONTROLLER_DAYS = 825

function openssl (args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] })
}

function newKey (file: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file])
  chmodSync(file, 0o600)
}

/** Signs a CSR for `cn` with the CA; `extensions` is an openssl extension section body. */
function sign (p: PkiPaths, keyFile: string, certFile: string, cn: string, days: number, extensions: string): void {
  const work = join(p.dir, `.csr-${process.pid}-${Date.now()}`)
  mkdirSync(work, { mode: 0o700 })
  try {
    const csr = join(work, 'req.csr')
    const ext = join(work, 'ext.cnf')
    openssl(['req', '-new', '-key', keyFile, '-subj', `/O=F2 IoT pipeline/CN=${cn}`, '-out', csr])
    writeFileSync(ext, `[ext]\n${extensions}\n`)
    openssl(['x509', '-req', '-in', csr, '-CA', p.caCert, '-CAkey', p.caKey, '-CAcreateserial', '-CAserial', join(p.dir, 'ca.srl'),
      '-days', String(days), '-sha256', '-extfile', ext, '-extensions', 'ext', '-out', certFile])
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

/**
 * Creates the CA and the broker's certificate when missing (idempotent). `hosts` are the
 * names and addresses the broker's certificate is valid for (subjectAltName).
 */
export function ensurePki (dir: string, hosts: readonly string[]): PkiPaths {
  const p = pkiPaths(dir)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  if (!existsSync(p.caCert) || !existsSync(p.caKey)) {
    newKey(p.caKey)
    openssl(['req', '-x509', '-new', '-key', p.caKey, '-sha256', '-days', String(CA_DAYS), '-subj', '/O=F2 IoT pipeline/CN=F2 pipeline CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', p.caCert])
  }
  if (!existsSync(p.serverCert) || !existsSync(p.serverKey)) {
    newKey(p.serverKey)
    const san = hosts.map(h => /^[\d.]+$/.test(h) || h.includes(':') ? `IP:${h}` : `DNS:${h}`).join(',')
    sign(p, p.serverKey, p.serverCert, hosts[0] ?? 'localhost', SERVER_DAYS,
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}`)
  }
  return p
}

export interface IssuedCertificate {
  cn: string
  certPem: string
  keyPem: string
  caPem: string
}

/**
 * Issues a client certificate whose CN is `cn` (a controller's `f2-<mac>`: the broker takes
 * the CN as the client's username). The key is returned, never kept here.
 */
export function issueClientCertificate (p: PkiPaths, cn: string): IssuedCertificate {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(cn)) throw new TypeError(`invalid certificate name ${JSON.stringify(cn)}`)
  const work = join(p.dir, `.issue-${process.pid}-${Date.now()}`)
  mkdirSync(work, { mode: 0o700 })
  try {
    const key = join(work, 'client.key')
    const cert = join(work, 'client.crt')
    newKey(key)
    sign(p, key, cert, cn, CONTROLLER_DAYS, 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth')
    return { cn, certPem: readFileSync(cert, 'utf8'), keyPem: readFileSync(key, 'utf8'), caPem: readFileSync(p.caCert, 'utf8') }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}
