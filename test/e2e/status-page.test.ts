import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import postgres from 'postgres'
import { chromium, type Browser, type Page } from 'playwright-core'
import { createLogger } from '../../src/adapters/logger.ts'
import { loadHealthConfig } from '../../src/stages/health/config.ts'
import { createHealthService, type HealthService } from '../../src/stages/health/main.ts'
import { migrate } from '../../src/storage/migrate.ts'
import { postgresEnv } from '../../src/adapters/config.ts'
import { createTempDatabase, roleUrl, stackEnv, type TempDatabase } from '../helpers/stack.ts'
import { ROOT } from './support.ts'
import { stackBroker } from '../helpers/broker.ts'
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
      MQTT_BROKER: new URL(env.mqttUrl).hostname,
      MQTT_PORT: new URL(env.mqttUrl).port,
      KAFKA_BOOTSTRAP_SERVERS: env.kafkaBootstrap,
      PROMETHEUS_URL: env.prometheusUrl,
      // The stack's broker, as the health account (it may use f2/health/ only).
      MQTT_USERNAME: stackBroker().health.username,
      MQTT_PASSWORD: stackBroker().health.password,
      MQTT_LOG_FILE: join(stackPaths().logsDir, 'mosquitto.log'),
      // As the stack runs it: the read-only roles (the page's rows come from the temporary database).
      ...postgresEnv('POSTGRES', roleUrl('registry', 'reader')),
      ...postgresEnv('TIMESCALE', roleUrl('timeseries', 'reader', temp.name))
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

  it('says so when the monitor cannot be reached', async () => {
    await health.stop(5000)
    await page.getByText('cannot reach the health monitor').waitFor({ timeout: 10_000 })
  })
})
