import { pbkdf2Sync, randomBytes } from 'node:crypto'

/**
 * Access rules of the broker, as Mosquitto's dynamic security plugin (2.0) understands them.
 * Pure: builds the plugin's initial configuration file and the control commands that grant
 * and revoke a controller; src/broker/control.ts sends them. The rules (docs/operations/security.md):
 * - nothing is allowed by default: no publish, no subscribe (so no `#`, no `$SYS`, no `$share`);
 * - a controller `f2-<mac>` publishes on `tele/f2-<mac>/#` and `stat/f2-<mac>/#`, subscribes to
 *   `cmnd/f2-<mac>/#`, and may only connect with the client id `f2-<mac>`;
 * - the connector subscribes to the telemetry filters, shared or not; nothing else;
 * - the health account publishes and subscribes under `f2/health/`;
 * - the dispatcher publishes on `cmnd/#` (commands to any controller) and nowhere else, and
 *   subscribes to the replies that confirm them: `stat/#` and the readers' `tele/` topics;
 * - the admin account alone reaches `$CONTROL/dynamic-security/#`.
 */

export const CONTROL_TOPIC = '$CONTROL/dynamic-security/v1'
export const RESPONSE_TOPIC = '$CONTROL/dynamic-security/v1/response'

/** The broker accounts of the services; controllers are `f2-<mac>`. */
export const ACCOUNTS = Object.freeze({ admin: 'f2-admin', connector: 'f2-connector', health: 'f2-health', dispatcher: 'f2-dispatcher' })

/** The replies the dispatcher matches to its commands (src/stages/dispatcher/service.ts REPLY_FILTERS). */
export const COMMAND_REPLY_FILTERS = Object.freeze(['stat/#', 'tele/+/access-control-mode/+/+'])

/** The service accounts' plain passwords, one per ACCOUNTS entry. */
export type ServicePasswords = Record<keyof typeof ACCOUNTS, string>

export type AclType = 'publishClientSend' | 'publishClientReceive' | 'subscribePattern' | 'subscribeLiteral' | 'unsubscribePattern'
export interface Acl { acltype: AclType, topic: string, allow: boolean, priority?: number }
export interface Role { rolename: string, acls: Acl[] }
export interface DynsecClient {
  username: string
  clientid?: string
  textname?: string
  roles: Array<{ rolename: string }>
  password?: string
  salt?: string
  iterations?: number
}
export interface DynsecFile {
  defaultACLAccess: Record<'publishClientSend' | 'publishClientReceive' | 'subscribe' | 'unsubscribe', boolean>
  clients: DynsecClient[]
  groups: []
  roles: Role[]
}

const allow = (acltype: AclType, topic: string): Acl => ({ acltype, topic, allow: true })

/** The telemetry filters the connector subscribes to (connector MQTT_TOPICS default). */
const TELEMETRY = ['tele/#', 'stat/#']

export function serviceRoles (): Role[] {
  return [
    {
      rolename: ACCOUNTS.admin,
      acls: [allow('publishClientSend', `${CONTROL_TOPIC}`), allow('publishClientReceive', RESPONSE_TOPIC), allow('subscribeLiteral', RESPONSE_TOPIC)]
    },
    {
      rolename: ACCOUNTS.connector,
      // `+`: any share group (MQTT_SHARE_GROUP), and the plain filters for MQTT_SHARED=false.
      acls: TELEMETRY.flatMap(f => [allow('subscribePattern', `$share/+/${f}`), allow('subscribePattern', f)])
    },
    {
      rolename: ACCOUNTS.health,
      acls: [allow('publishClientSend', 'f2/health/#'), allow('subscribePattern', 'f2/health/#')]
    },
    {
      rolename: ACCOUNTS.dispatcher,
      acls: [allow('publishClientSend', 'cmnd/#'), ...COMMAND_REPLY_FILTERS.map(f => allow('subscribePattern', f))]
    }
  ]
}

/** The device name of a (normalised, 12 hex digits) MAC: username, client id, certificate CN and role. */
export const controllerAccount = (mac: string): string => `f2-${mac}`

/** The text name the plugin shows for a controller's account. */
export const controllerTextname = (mac: string): string => `controller ${mac}`

export function controllerRole (mac: string): Role {
  const name = controllerAccount(mac)
  return {
    rolename: name,
    acls: [allow('publishClientSend', `tele/${name}/#`), allow('publishClientSend', `stat/${name}/#`), allow('subscribePattern', `cmnd/${name}/#`)]
  }
}

/** Mosquitto 2.0's password hash: PBKDF2-HMAC-SHA512, 12-byte salt, 101 iterations, base64. */
export function hashPassword (password: string, salt: Buffer = randomBytes(12), iterations = 101): { password: string, salt: string, iterations: number } {
  return { password: pbkdf2Sync(password, salt, iterations, 64, 'sha512').toString('base64'), salt: salt.toString('base64'), iterations }
}

/**
 * The plugin's file at first start: default deny, the service roles, and the service accounts
 * with their passwords (hashed; `passwords` are the plain secrets, never written here).
 */
export function initialDynsecFile (passwords: ServicePasswords): DynsecFile {
  const client = (username: string, password: string): DynsecClient => ({ username, textname: `${username} service account`, roles: [{ rolename: username }], ...hashPassword(password) })
  return {
    defaultACLAccess: { publishClientSend: false, publishClientReceive: true, subscribe: false, unsubscribe: true },
    clients: [client(ACCOUNTS.admin, passwords.admin), client(ACCOUNTS.connector, passwords.connector), client(ACCOUNTS.health, passwords.health), client(ACCOUNTS.dispatcher, passwords.dispatcher)],
    groups: [],
    roles: serviceRoles()
  }
}

export type Command = Record<string, unknown> & { command: string }

/**
 * Commands that give controller `mac` its account: its role, then the client bound to its own
 * client id, with `password` when it uses one (a certificate controller has none: the broker
 * takes its username from the certificate and never asks for a password).
 * The previous account and role are deleted first, so the same commands also rotate.
 */
export function grantControllerCommands (mac: string, password: string | undefined): Command[] {
  const name = controllerAccount(mac)
  const role = controllerRole(mac)
  return [
    { command: 'deleteClient', username: name },
    { command: 'deleteRole', rolename: name },
    { command: 'createRole', rolename: name, acls: role.acls.map(a => ({ ...a, priority: 0 })) },
    {
      command: 'createClient',
      username: name,
      clientid: name,
      textname: controllerTextname(mac),
      roles: [{ rolename: name }],
      ...(password === undefined ? {} : { password })
    }
  ]
}

/** Removing the client makes the broker disconnect it at once (the plugin kicks it); the role goes with it. */
export function revokeControllerCommands (mac: string): Command[] {
  const name = controllerAccount(mac)
  return [{ command: 'deleteClient', username: name }, { command: 'deleteRole', rolename: name }]
}

/** Errors a command may give without the whole change failing (deleting what is already gone). */
export function harmlessError (command: Command, error: string): boolean {
  return (command.command === 'deleteClient' || command.command === 'deleteRole') && /not found/i.test(error)
}
