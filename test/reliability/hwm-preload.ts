// Loaded with `node --import` by hostile-configs.test.ts: at exit, write the process's peak
// RSS (VmHWM, kB) to $HWM_FILE, so each CLI run's memory high-water mark is measured exactly.
import { readFileSync, writeFileSync } from 'node:fs';

const out = process.env['HWM_FILE'];
if (out)
  process.on('exit', () => {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
    writeFileSync(out, kb ?? '');
  });
