/**
 * Generate build/tables/*.json (errno and syscall names) from the Linux uapi
 * headers of this machine (Debian package linux-libc-dev).
 *   npx node scripts/gen-tables.ts [--include /usr/include] [--out build/tables]
 */
import { parseArgs } from 'node:util';
import { defaultTablesDir, generateTables, writeTables } from '../src/kernel/tables.ts';

const { values } = parseArgs({
  options: {
    include: { type: 'string', default: '/usr/include' },
    out: { type: 'string', default: defaultTablesDir },
  },
});
try {
  const tables = generateTables({ include: values.include });
  for (const path of writeTables(tables, values.out)) console.log(`wrote ${path}`);
  const arches = Object.entries(tables.syscalls).map(([arch, t]) => `${arch} ${Object.keys(t.names).length}`);
  console.log(
    `errno ${Object.keys(tables.errno.names).length} names; syscalls ${arches.join(', ') || 'none'}; linux headers ${tables.errno.linuxHeaders ?? 'unknown'}`,
  );
} catch (err) {
  console.error(`gen-tables: ${(err as Error).message}`);
  process.exit(1);
}
