#!/usr/bin/env node
// Entry point. The agent is TypeScript run by Node's type stripping (Node >= 22.15);
// npm scripts and npx put the project's Node 24 (devDependency `node`) first on PATH.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 15)) {
  process.stderr.write(
    `ebpf-collector needs Node >= 22.15, this is ${process.version}. Run it through npm so the project's Node 24 is used:\n` +
      `  npx ebpf-collector …   or   npm start\n`,
  );
  process.exit(2);
}
await import('../src/cli.ts');
