import { createContext } from '../src/stack/context.ts'
import { up } from '../src/stack/detached.ts'

/**
 * Makes sure the native stack is up before the integration tests run: reuses a running stack
 * (`npm test`, `npm run stack -- up` or `npm start` started one), otherwise starts it detached.
 * A stack started here stays up for the next run (and for other test runs that may be using
 * it by then); `npm run stack -- down` stops it, and `npm test` stops a stack it started itself.
 * F2_STACK_EXTERNAL=1 skips this, for a stack run elsewhere (e.g. containers) and reached
 * through the usual environment variables (harness/stack.ts).
 */
export default async function setup (): Promise<void> {
  if (process.env.F2_STACK_EXTERNAL === '1') return
  await up(createContext(undefined, 'warn'))
}
