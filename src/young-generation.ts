import { setFlagsFromString } from 'node:v8';

/**
 * Keep V8's young generation at its first semi-space size (1 MiB). By default V8 doubles the
 * new space (up to 128 MiB here, Node 24) whenever many young objects survive a scavenge —
 * module loading does it once (16 MiB), a flood of 1,000 scrapes again — and never gives it
 * back: a process without this grew ~15–30 MiB of RSS per flood. The agent makes a few MB of
 * garbage per scrape; small semi-spaces cost it more scavenges, not time that shows. V8 reads
 * the flag when the new space would grow, so it takes effect at run time (on the command line
 * `--semi-space-growth-factor=1` is overridden at start and does nothing). bin/ebpf-collector.js
 * calls this before the agent's modules load; test fixtures that stand for the agent do too.
 * This module imports nothing else, so loading it first costs nothing.
 */
export function tuneYoungGeneration(): void {
  setFlagsFromString('--semi-space-growth-factor=1');
}
