/**
 * The Host a component under test starts with: a silent logger, its own SelfTelemetry, a pull
 * that reads nothing, ready. Give the parts a test looks at or changes (its telemetry, its
 * logger, a pull that counts, a health).
 */
import { pino } from 'pino';
import type { Host } from '../../src/pipeline/component.ts';
import { SelfTelemetry } from '../../src/pipeline/telemetry.ts';

const silent = pino({ level: 'silent' });

export function testHost(parts: Partial<Host> = {}): Host {
  return {
    logger: silent,
    telemetry: new SelfTelemetry(),
    pull: async () => undefined,
    ready: () => true,
    ...parts,
  };
}
