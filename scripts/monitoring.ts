/**
 * Write the Grafana dashboards and alert rules generated from deploy/monitoring/*.ts, or with
 * --check, fail when a committed one differs from what would be generated.
 *   node scripts/monitoring.ts [--check]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { generatedFiles, staleFiles } from '../deploy/monitoring/generate.ts';
import { repoRoot } from '../deploy/monitoring/metrics.ts';

const { values } = parseArgs({ options: { check: { type: 'boolean', default: false } } });
try {
  if (values.check) {
    const stale = await staleFiles();
    for (const path of stale) console.error(`${path}: differs from what scripts/monitoring.ts generates`);
    if (stale.length > 0) {
      console.error('run: node scripts/monitoring.ts');
      process.exit(1);
    }
    console.log('monitoring: every generated file is current');
  } else {
    for (const [path, text] of await generatedFiles()) {
      mkdirSync(dirname(join(repoRoot, path)), { recursive: true });
      writeFileSync(join(repoRoot, path), text);
      console.log(`wrote ${path} (${text.length} bytes)`);
    }
  }
} catch (err) {
  console.error(`monitoring: ${(err as Error).message}`);
  process.exit(1);
}
