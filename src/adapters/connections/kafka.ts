import { z } from 'zod'
import { portOffsetField, STACK_HOST, STACK_PORTS, type WithPortOffset } from './stack-ports.ts'

/**
 * Where Kafka is: the seed's KAFKA_BOOTSTRAP_SERVERS (`host:port[,host:port]`). Unset, the
 * native stack's broker (with F2_STACK_PORT_OFFSET). A malformed list is a config error at
 * start-up, never a silent default.
 */
export const kafkaFields = {
  KAFKA_BOOTSTRAP_SERVERS: z.string()
    .transform(v => v.split(',').map(s => s.trim()).filter(s => s.length > 0))
    .pipe(z.array(z.string().regex(/^[^:\s,]+:\d{1,5}$/, 'expected host:port[,host:port]')
      .refine(s => { const p = Number(s.slice(s.lastIndexOf(':') + 1)); return p >= 1 && p <= 65535 }, 'port out of range 1-65535')).min(1))
    .optional(),
  ...portOffsetField
}

export interface KafkaValues extends WithPortOffset { KAFKA_BOOTSTRAP_SERVERS?: string[] | undefined }

/** The native stack's bootstrap address at `offset`. */
export function stackKafkaBootstrap (offset = 0): string {
  return `${STACK_HOST}:${STACK_PORTS.kafka + offset}`
}

/** The bootstrap brokers from values parsed with `kafkaFields`. */
export function pickKafka (values: KafkaValues): string[] {
  return values.KAFKA_BOOTSTRAP_SERVERS === undefined ? [stackKafkaBootstrap(values.F2_STACK_PORT_OFFSET)] : [...values.KAFKA_BOOTSTRAP_SERVERS]
}
