import { afterAll } from 'vitest'
import { stackBroker, testAccount } from './broker.ts'

/**
 * One throw-away account on the stack's broker for a test file's own publishers, observers
 * and connectors, which use topics of their own (unique names): publish anywhere, subscribe to
 * anything, shared or not. Removed when the file's tests are done. Tests of the access rules
 * themselves use the real accounts (test/broker/).
 */
export const TEST_ACCOUNT = await testAccount(stackBroker(), { publish: ['#'], subscribe: ['#', '$share/#'] })
afterAll(async () => { await TEST_ACCOUNT.remove() })

/** username and password for MQTT.js / createMqttClient options. */
export const auth = (): { username: string, password: string } => ({ username: TEST_ACCOUNT.username, password: TEST_ACCOUNT.password })
