import { pbkdf2Sync } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { syncDynsecFile, withControllers } from '../../src/broker/dynsec-file.ts'
import { ACCOUNTS, controllerRole, grantControllerCommands, harmlessError, hashPassword, initialDynsecFile, revokeControllerCommands } from '../../src/broker/dynsec.ts'

describe('broker access rules', () => {
  it('denies by default and gives each service only its own rights', () => {
    const file = initialDynsecFile({ admin: 'a'.repeat(16), connector: 'c'.repeat(16), health: 'h'.repeat(16), dispatcher: 'd'.repeat(16) })
    expect(file.defaultACLAccess).toEqual({ publishClientSend: false, publishClientReceive: true, subscribe: false, unsubscribe: true })
    expect(file.clients.map(c => c.username)).toEqual([ACCOUNTS.admin, ACCOUNTS.connector, ACCOUNTS.health, ACCOUNTS.dispatcher])
    const acls = Object.fromEntries(file.roles.map(r => [r.rolename, r.acls.map(a => `${a.acltype} ${a.topic}`)]))
    expect(acls[ACCOUNTS.connector]).toEqual(['subscribePattern $share/+/tele/#', 'subscribePattern tele/#', 'subscribePattern $share/+/stat/#', 'subscribePattern stat/#'])
    expect(acls[ACCOUNTS.health]).toEqual(['publishClientSend f2/health/#', 'subscribePattern f2/health/#'])
    // The dispatcher publishes commands and nothing else; it reads the replies that confirm them.
    expect(acls[ACCOUNTS.dispatcher]).toEqual(['publishClientSend cmnd/#', 'subscribePattern stat/#', 'subscribePattern tele/+/access-control-mode/+/+'])
    expect(acls[ACCOUNTS.admin]?.every(a => a.includes('$CONTROL/dynamic-security/v1'))).toBe(true)
    // No plain password in the file.
    expect(JSON.stringify(file)).not.toContain('a'.repeat(16))
  })

  it("hashes passwords as Mosquitto 2.0 checks them (PBKDF2-SHA512, 12-byte salt, 101 iterations)", () => {
    const salt = Buffer.alloc(12, 7)
    const h = hashPassword('secret', salt)
    expect(h).toEqual({ password: pbkdf2Sync('secret', salt, 101, 64, 'sha512').toString('base64'), salt: salt.toString('base64'), iterations: 101 })
    expect(hashPassword('secret').salt).not.toBe(hashPassword('secret').salt)
  })

  it('lets a controller publish on its own tele/ and stat/ and subscribe to its own commands, bound to its client id', () => {
    expect(controllerRole('aabbccddeeff').acls.map(a => `${a.acltype} ${a.topic}`)).toEqual([
      'publishClientSend tele/f2-aabbccddeeff/#', 'publishClientSend stat/f2-aabbccddeeff/#', 'subscribePattern cmnd/f2-aabbccddeeff/#'
    ])
    const commands = grantControllerCommands('aabbccddeeff', 'pw')
    expect(commands.map(c => c.command)).toEqual(['deleteClient', 'deleteRole', 'createRole', 'createClient'])
    expect(commands[3]).toMatchObject({ username: 'f2-aabbccddeeff', clientid: 'f2-aabbccddeeff', password: 'pw', roles: [{ rolename: 'f2-aabbccddeeff' }] })
    expect(grantControllerCommands('aabbccddeeff', undefined)[3]).not.toHaveProperty('password')
    expect(revokeControllerCommands('aabbccddeeff')).toEqual([{ command: 'deleteClient', username: 'f2-aabbccddeeff' }, { command: 'deleteRole', rolename: 'f2-aabbccddeeff' }])
  })

  it('treats deleting what is already gone as harmless, nothing else', () => {
    expect(harmlessError({ command: 'deleteClient' }, 'Client not found')).toBe(true)
    expect(harmlessError({ command: 'deleteRole' }, 'Role not found')).toBe(true)
    expect(harmlessError({ command: 'createClient' }, 'Client already exists')).toBe(false)
    expect(harmlessError({ command: 'deleteClient' }, 'Internal error')).toBe(false)
  })

  it('keeps controllers and brings the service accounts in step on a later start', () => {
    // A file written before the dispatcher account existed gains it.
    const old = initialDynsecFile({ admin: 'a1', connector: 'c1', health: 'h1', dispatcher: 'd1' })
    const first = { ...old, clients: old.clients.filter(c => c.username !== ACCOUNTS.dispatcher), roles: old.roles.filter(r => r.rolename !== ACCOUNTS.dispatcher) }
    const withController = { ...first, clients: [...first.clients, { username: 'f2-aabbccddeeff', roles: [{ rolename: 'f2-aabbccddeeff' }] }], roles: [...first.roles, controllerRole('aabbccddeeff')] }
    const next = initialDynsecFile({ admin: 'a2', connector: 'c2', health: 'h2', dispatcher: 'd2' })
    const synced = syncDynsecFile(withController, next)
    expect(synced.clients.map(c => c.username)).toEqual([ACCOUNTS.admin, ACCOUNTS.connector, ACCOUNTS.health, ACCOUNTS.dispatcher, 'f2-aabbccddeeff'])
    expect(synced.roles.map(r => r.rolename)).toContain(ACCOUNTS.dispatcher)
    expect(synced.clients[0]?.password).toBe(next.clients[0]?.password)
    expect(synced.roles.map(r => r.rolename)).toContain('f2-aabbccddeeff')
    expect(syncDynsecFile(undefined, next)).toBe(next)
  })
})

describe('accounts written into the stopped broker\'s file', () => {
  const base = initialDynsecFile({ admin: 'a'.repeat(16), connector: 'c'.repeat(16), health: 'h'.repeat(16), dispatcher: 'd'.repeat(16) })

  it('adds what the plugin\'s own commands would make: the role with its rules and the client bound to its id', () => {
    const file = withControllers(base, [{ mac: 'aabbccddeeff', password: 'pw-1', textname: 'controller aabbccddeeff' }, { mac: '0011223344ff', password: undefined, textname: 'cert' }])
    const commands = grantControllerCommands('aabbccddeeff', 'pw-1')
    const createRole = commands.find(c => c.command === 'createRole')
    const createClient = commands.find(c => c.command === 'createClient') as Record<string, unknown>
    expect(file.roles.find(r => r.rolename === 'f2-aabbccddeeff')).toEqual({ rolename: 'f2-aabbccddeeff', acls: createRole?.acls })
    const client = file.clients.find(c => c.username === 'f2-aabbccddeeff')
    expect(client).toMatchObject({ clientid: createClient.clientid, textname: createClient.textname, roles: createClient.roles, iterations: 101 })
    expect(client?.password).toBe(pbkdf2Sync('pw-1', Buffer.from(client?.salt ?? '', 'base64'), 101, 64, 'sha512').toString('base64'))
    // A certificate controller has no password: the broker takes its name from the certificate.
    expect(file.clients.find(c => c.username === 'f2-0011223344ff')).not.toHaveProperty('password')
    expect(file.clients.slice(0, 4)).toEqual(base.clients)
    expect(JSON.stringify(file)).not.toContain('pw-1')
  })

  it('replaces an account of the same name (a new password) and keeps every other', () => {
    const once = withControllers(base, [{ mac: 'aabbccddeeff', password: 'old', textname: 't' }, { mac: '0011223344ff', password: 'other', textname: 't' }])
    const twice = withControllers(once, [{ mac: 'aabbccddeeff', password: 'new', textname: 't' }])
    expect(twice.clients.filter(c => c.username === 'f2-aabbccddeeff')).toHaveLength(1)
    expect(twice.roles.filter(r => r.rolename === 'f2-aabbccddeeff')).toHaveLength(1)
    const client = twice.clients.find(c => c.username === 'f2-aabbccddeeff')
    expect(client?.password).toBe(pbkdf2Sync('new', Buffer.from(client?.salt ?? '', 'base64'), 101, 64, 'sha512').toString('base64'))
    expect(twice.clients.find(c => c.username === 'f2-0011223344ff')).toEqual(once.clients.find(c => c.username === 'f2-0011223344ff'))
    expect(twice.clients).toHaveLength(base.clients.length + 2)
  })
})
