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
  stack: { describe: 'stack up | down | status: the infrastructure, detached (for scripts)', load: () => import('./stack/commands/stack.ts') }
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
  const code = await mod.run(argv)
  if (typeof code === 'number') process.exitCode = code
}

await main()
