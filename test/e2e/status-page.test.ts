import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import postgres from 'postgres'
import { chromium, type Browser, type Page } from 'playwright-core'
import { createLogger } from '../../src/adapters/logger.ts'
import { loadHealthConfig } from '../../src/stages/health/config.ts'
import { createHealthService, type HealthService } from '../../src/stages/health/main.ts'
import { migrate } from '../../src/storage/migrate.ts'
import { postgresEnv } from '../../src/adapters/connections/postgres.ts'
import { createTempDatabase, roleUrl, stackEnv, type TempDatabase } from '../../harness/stack.ts'
import { ROOT } from '../../harness/e2e-support.ts'
import { stackBroker } from '../../harness/broker.ts'
import mqtt from 'mqtt'
import { stackPaths } from '../../src/stack/config.ts'

// Debian's chromium (apt-get install chromium), driven by playwright-core: no browser download.
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync']
const ARTIFACTS = join(ROOT, 'test-artifacts')
const MAC = 'f2e2e0000001'

describe('status page in headless Chromium', () => {
  let temp: TempDatabase
  let sql: postgres.Sql
  let health: HealthService
  let browser: Browser
  let page: Page

  const insertReading = (value: number): Promise<unknown> => sql`
    INSERT INTO iot_measurements ("timestamp", device_id, connector_mode, datapoint_label, pin_position, value, unit, topic, connector)
    VALUES (now(), ${MAC}, 'sensor-mode', 'Temperature', '1', ${value}, '°C', ${`tele/f2-${MAC}/sensor-mode/J1/sensor-1`}, 1)`

  beforeAll(async () => {
    temp = await createTempDatabase('timeseries')
    sql = postgres(temp.url, { max: 1, onnotice: () => {} })
    await migrate(sql, 'timeseries')
    const env = stackEnv()
    health = createHealthService(loadHealthConfig({
      HEALTH_HOST: '127.0.0.1',
      HEALTH_PORT: '0',
      HEALTH_PROBE_INTERVAL_MS: '1000',
      HEALTH_PROBE_TIMEOUT_MS: '800',
      KAFKA_BOOTSTRAP_SERVERS: env.kafkaBootstrap,
      // The stack's broker, wherever its port offset put it.
      MQTT_BROKER: new URL(env.mqttUrl).hostname,
      MQTT_PORT: new URL(env.mqttUrl).port,
      PROMETHEUS_URL: env.prometheusUrl,
      // The stack's broker, as the health account (it may use f2/health/ only).
      MQTT_USERNAME: stackBroker().health.username,
      MQTT_PASSWORD: stackBroker().health.password,
      MQTT_LOG_FILE: join(stackPaths().logsDir, 'mosquitto.log'),
      // As the stack runs it: the read-only roles (the page's rows come from the temporary database).
      ...postgresEnv('registry', roleUrl('registry', 'reader')),
      ...postgresEnv('timeseries', roleUrl('timeseries', 'reader', temp.name))
    }), createLogger('health', 'silent'))
    await health.start()
    browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } })
  })

  afterAll(async () => {
    await browser?.close()
    await health?.stop(5000)
    await sql?.end()
    await temp?.drop()
  })

  it('renders the components and shows readings as they arrive', async () => {
    await page.goto(`http://127.0.0.1:${health.port()}/status`)
    const components = page.getByTestId('components')
    await components.getByText('mqtt', { exact: true }).waitFor({ timeout: 10_000 })
    for (const name of ['kafka', 'registry-db', 'timeseries-db', 'prometheus', 'connector', 'sink']) {
      await expect(components.getByText(name, { exact: true }).count()).resolves.toBe(1)
    }
    const mqttRow = components.locator('tr', { hasText: 'mqtt' })
    await expect(mqttRow.locator('.badge').textContent()).resolves.toBe('healthy')
    await expect(page.getByTestId('lag').getByText('iot-processor').count()).resolves.toBe(1)
    await expect(page.getByTestId('readings').textContent()).resolves.toContain('no readings')

    // A reading lands in the database; the page shows it on its next poll, without a reload.
    await insertReading(21.5)
    const readings = page.getByTestId('readings')
    await readings.getByText(MAC).waitFor({ timeout: 10_000 })
    await expect(readings.locator('tr', { hasText: MAC }).textContent()).resolves.toContain('21.5')

    await new Promise(resolve => setTimeout(resolve, 1100))
    await insertReading(23.25)
    await readings.getByText('23.25').waitFor({ timeout: 10_000 })
    await expect(readings.getByText('21.5').count()).resolves.toBe(0)

    // A client the broker refuses shows up among the refusals, with its address.
    await mqtt.connectAsync(stackEnv().mqttUrl, { protocolVersion: 5, reconnectPeriod: 0, username: 'intruder', password: 'guess' }).then(c => c.endAsync(), () => {})
    const refusals = page.getByTestId('broker-refusals')
    await refusals.getByText('auth_failed').first().waitFor({ timeout: 15_000 })
    await expect(refusals.locator('tr', { hasText: 'auth_failed' }).first().textContent()).resolves.toMatch(/127\.0\.0\.1:\d+/)

    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true })
  })

  it('shows the fleet: offline first, mode, state with its reason, last seen, last values, dead letters of the hour; follows changes', async () => {
    const ONLINE = 'f2e2e0000002'
    const OFFLINE = 'f2e2e0000003'
    const values = [{ connector: 1, connector_mode: 'sensor-mode', datapoint_label: 'Temperature', pin_position: '1', value: 21.5, value_text: null, unit: '°C', timestamp: new Date().toISOString() }]
    await sql`INSERT INTO device_state (device_id, mode, online, last_seen, since, offline_reason, expected_interval_s, last_values, rows_last_hour, dead_letters_last_hour, updated_at) VALUES
      (${ONLINE}, 'sensor-mode', true, now() - interval '3 seconds', now() - interval '1 hour', NULL, 30, ${sql.json(values)}, 120, 0, now()),
      (${OFFLINE}, 'alarm-mode', false, now() - interval '10 minutes', now() - interval '9 minutes', 'will', 30, '[]'::jsonb, 0, 7, now())`
    await page.goto(`http://127.0.0.1:${health.port()}/status`)
    const fleet = page.getByTestId('fleet')
    await fleet.getByText(ONLINE).waitFor({ timeout: 10_000 })
    const rows = fleet.locator('tbody tr')
    await expect(rows.count()).resolves.toBe(2)
    // Offline first.
    await expect(rows.nth(0).textContent()).resolves.toContain(OFFLINE)
    const offline = fleet.locator('tr', { hasText: OFFLINE })
    await expect(offline.locator('.badge').textContent()).resolves.toBe('offline (will)')
    await expect(offline.locator('td').nth(1).textContent()).resolves.toBe('alarm-mode')
    await expect(offline.locator('td').nth(3).textContent()).resolves.toBe('10 min')
    await expect(offline.locator('td').nth(6).textContent()).resolves.toBe('7')
    const online = fleet.locator('tr', { hasText: ONLINE })
    await expect(online.locator('.badge').textContent()).resolves.toBe('online')
    await expect(online.locator('td.values').textContent()).resolves.toBe('J1/1 Temperature 21.5 °C')
    await expect(page.locator('#fleet-summary').textContent()).resolves.toContain('online: 1, offline: 1')

    // The controller comes back: the page follows on its next poll, without a reload.
    await sql`UPDATE device_state SET online = true, offline_reason = NULL, since = now(), last_seen = now() WHERE device_id = ${OFFLINE}`
    await page.locator('#fleet-summary', { hasText: 'online: 2, offline: 0' }).waitFor({ timeout: 10_000 })
    await expect(offline.locator('.badge').textContent()).resolves.toBe('online')
    mkdirSync(ARTIFACTS, { recursive: true })
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-fleet.png'), fullPage: true })
  })

  it('says so when the monitor cannot be reached', async () => {
    await health.stop(5000)
    await page.getByText('cannot reach the health monitor').waitFor({ timeout: 10_000 })
  })
})
