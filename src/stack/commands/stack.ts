import { parseArgs } from 'node:util'
import { isF2Error } from '../../core/errors.ts'
import { simulatedAccounts } from '../../stages/simulator/access.ts'
import { generateFleet } from '../../stages/simulator/fleet.ts'
import { brokerAccount } from '../broker-accounts.ts'
import { createContext } from '../context.ts'
import { down, status, up } from '../detached.ts'
import { addAccountsOffline } from '../mosquitto.ts'
import { runOwner } from '../owner.ts'

const usage = `usage: npm run stack -- up | down | status
       npm run stack -- simulated-accounts --devices <n> [--seed <s>]
           (stack down) writes the broker accounts of the simulator's first <n> controllers of
           fleet <s> (SIM_SEED, default 1) into the broker's file in one pass; the simulator and
           the benchmark then find them made. Needed for fleets of thousands: over MQTT the broker
           rewrites its file after every account.
`

/**
 * `stack up|down|status`: the infrastructure, detached, for scripts and tests.
 * `stack daemon` is the detached process itself (started by `up`, not meant to be run by hand).
 */
export async function run (argv: string[]): Promise<number> {
  const [sub] = argv
  const ctx = createContext()
  try {
    switch (sub) {
      case 'up': {
        const result = await up(ctx)
        process.stdout.write(`stack ${result.started ? 'up' : 'already up'} (pid ${result.pid}); logs in ${ctx.paths.logsDir}\n`)
        return 0
      }
      case 'down': {
        const stopped = await down(ctx)
        process.stdout.write(stopped ? 'stack down\n' : 'stack was not running\n')
        return 0
      }
      case 'status': {
        const report = await status(ctx)
        const owner = report.owner
        process.stdout.write(owner === undefined
          ? 'stack: not running\n'
          : `stack: ${owner.alive ? owner.status : `owner gone (last status ${owner.status})`}, ${owner.mode}, pid ${owner.pid}${owner.error === undefined ? '' : `, error: ${owner.error}`}\n`)
        for (const c of report.components) {
          const ports = Object.entries(c.ports).map(([port, open]) => `${port}:${open ? 'open' : 'closed'}`).join(' ')
          process.stdout.write(`  ${c.name.padEnd(30)} ${c.alive ? `pid ${c.pid}`.padEnd(12) : 'down'.padEnd(12)} ${ports}\n`)
        }
        return owner?.alive === true && owner.status === 'ready' ? 0 : 3
      }
      case 'simulated-accounts': {
        const { values } = parseArgs({ args: argv.slice(1), options: { devices: { type: 'string' }, seed: { type: 'string', default: '1' } }, strict: true })
        const devices = Number(values.devices)
        const seed = Number(values.seed)
        if (!Number.isInteger(devices) || devices < 1 || !Number.isInteger(seed) || seed < 0) {
          process.stderr.write(usage)
          return 2
        }
        const report = await status(ctx)
        if (report.owner?.alive === true || report.components.some(c => c.name === 'mosquitto' && c.alive)) {
          process.stderr.write('the stack is running: `npm run stack -- down` first (a running broker would overwrite its file)\n')
          return 1
        }
        const macs = generateFleet(devices, seed).map(c => c.mac)
        const file = addAccountsOffline(ctx.paths, simulatedAccounts(brokerAccount(ctx.paths, 'admin').password, macs))
        process.stdout.write(`${macs.length} simulated controllers (seed ${seed}) have accounts in ${file}\n`)
        return 0
      }
      case 'daemon':
        return await runOwner({ ctx, mode: 'detached', ownInfrastructure: true })
      default:
        process.stderr.write(usage)
        return 2
    }
  } catch (err) {
    ctx.logger.error({ err, code: isF2Error(err) ? err.code : undefined }, (err as Error).message)
    process.stderr.write(`${(err as Error).message}\n`)
    return 1
  }
}
