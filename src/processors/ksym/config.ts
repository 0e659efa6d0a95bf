import { z } from 'zod';
import { duration } from '../../config/types.ts';

export const configSchema = z.strictObject({
  /** Where the symbol table is read from. */
  kallsyms_path: z.string().min(1).default('/proc/kallsyms'),
  /** Minimum time between re-reads of the table on a miss (module loads). */
  refresh_interval: duration().default(10_000),
});

export type KsymProcessorConfig = z.infer<typeof configSchema>;
