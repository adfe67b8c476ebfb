#!/usr/bin/env node
/**
 * One entry point for every command and every service: `node src/cli.ts <command> [args]`.
 * Each command lives in its own module and is loaded only when asked for, so starting
 * one service does not load the code of the others.
 */

type CommandModule = { run: (argv: string[]) => Promise<number | void> }

const commands: Record<string, { describe: string, load: () => Promise<CommandModule> }> = {
  start: { describe: 'install what is missing, run the stack and every service in the foreground', load: () => import('./stack/commands/start.ts') },
  test: { describe: 'install what is missing, bring the stack up, run every test', load: () => import('./stack/commands/test.ts') },
  stack: { describe: 'stack up | down | status: the infrastructure, detached (for scripts); simulated-accounts --devices N (stack down)', load: () => import('./stack/commands/stack.ts') },
  db: { describe: 'db url <registry|timeseries> | db env: the native stack\'s database URLs and credentials (--help)', load: () => import('./stack/commands/db.ts') },
  simulator: { describe: 'F2 controller fleet: telemetry, events, commands, load (--help)', load: () => import('./stages/simulator/main.ts') },
  connector: { describe: 'MQTT → Kafka connector (at-least-once, PUBACK after Kafka ack)', load: () => import('./stages/connector/main.ts') },
  processor: { describe: 'data processor: raw_iot_data → decode → decoded_iot_data + iot_dead_letter (port 9403)', load: () => import('./stages/processor/main.ts') },
  sink: { describe: 'TimescaleDB sink: decoded_iot_data → iot_measurements, idempotent (port 9404)', load: () => import('./stages/sink/main.ts') },
  fleet: { describe: 'fleet state: who is online, last values, transitions → device_state table and topic (port 9405)', load: () => import('./stages/fleet/main.ts') },
  replay: { describe: 'replay --reason F2_… [--since ISO] [--dry-run]: feed dead letters back to the processor', load: () => import('./stages/processor/replay.ts') },
  health: { describe: 'health monitor: probes every component, serves /health, /status, /metrics (port 8000)', load: () => import('./stages/health/main.ts') },
  migrate: { describe: 'migrate [registry|timeseries|all]: apply the SQL migrations (one-shot)', load: () => import('./storage/migrate-cli.ts') },
  registry: { describe: 'registry list|add-controller(s)|revoke-controller|add-template|add-sensor: manage the device registry and controllers\' broker access', load: () => import('./registry/cli.ts') },
  'broker-init': { describe: 'broker-init: the project CA, the broker certificate and its service accounts (compose, one-shot)', load: () => import('./broker/init-cli.ts') },
  api: { describe: 'API: devices, readings, dead letters, commands over HTTP with bearer tokens (port 8080)', load: () => import('./stages/api/main.ts') },
  token: { describe: 'token create --name N [--scope read|command] | list | revoke ID: API bearer tokens', load: () => import('./stages/api/token-cli.ts') },
  dispatcher: { describe: 'command dispatcher: device_commands → MQTT cmnd/, replies confirm, TTL expires (port 9406)', load: () => import('./stages/dispatcher/main.ts') },
  command: { describe: 'command send MAC --kind K ... | show ID | list MAC: cloud-to-device commands through the API', load: () => import('./stages/api/command-cli.ts') }
}

async function main (): Promise<void> {
  const [name, ...argv] = process.argv.slice(2)
  const command = name === undefined ? undefined : commands[name]
  if (command === undefined) {
    const width = Math.max(...Object.keys(commands).map(k => k.length))
    process.stderr.write(`usage: node src/cli.ts <command> [args]\n\n${Object.entries(commands)
      .map(([k, v]) => `  ${k.padEnd(width)}  ${v.describe}`).join('\n')}\n`)
    process.exitCode = name === undefined || name === 'help' || name === '--help' ? 0 : 2
    return
  }
  const mod = await command.load()
  let code
  try {
    code = await mod.run(argv)
  } catch (err) {
    // A configuration problem is the operator's to fix: the message says what, a stack trace adds nothing.
    if ((err as { code?: unknown }).code !== 'F2_CONFIG_INVALID') throw err
    process.stderr.write(`F2_CONFIG_INVALID: ${(err as Error).message}\n`)
    code = 1
  }
  if (typeof code === 'number') process.exitCode = code
}

await main()
