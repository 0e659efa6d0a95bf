import { join } from 'node:path';
import { repoRoot } from './agent.ts';

/** The agent's init (native/init.c), built by scripts/setup.sh beside the addon. */
export const INIT_PATH = join(repoRoot, 'native', 'build', 'Release', 'ebpf-collector-init');
