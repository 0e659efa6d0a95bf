import { readFileSync } from 'node:fs';

/** The agent's version, from package.json (found the same way from src/ and from build/js/src/). */
export const agentVersion: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
