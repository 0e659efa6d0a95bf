/**
 * Opens COUNT idle TCP connections to 127.0.0.1:PORT (at most 256 connecting at once), sends
 * nothing, and holds what the server leaves open. Prints `{"opened":…,"failed":…,"closedByServer":…}`
 * when every connection has been tried, and again on SIGTERM. Used by scrape-flood.test.ts: one
 * process holds fewer fds than its RLIMIT_NOFILE, so the test runs several.
 * Arguments: PORT COUNT.
 */
import { connect, type Socket } from 'node:net';

const port = Number(process.argv[2]);
const count = Number(process.argv[3]);
const sockets = new Set<Socket>();
let opened = 0;
let failed = 0;
let closedByServer = 0;
let started = 0;
let settled = 0;

const report = (): void => {
  process.stdout.write(`${JSON.stringify({ opened, failed, closedByServer, open: sockets.size })}\n`);
};

function next(): void {
  if (started >= count) return;
  started++;
  const s = connect(port, '127.0.0.1');
  let connected = false;
  s.on('connect', () => {
    connected = true;
    opened++;
    sockets.add(s);
    settled++;
    done();
  });
  s.on('error', () => undefined);
  s.on('close', () => {
    if (connected) {
      closedByServer++;
      sockets.delete(s);
    } else {
      failed++;
      settled++;
      done();
    }
  });
  s.resume();
}

function done(): void {
  next();
  if (settled === count) report();
}

for (let i = 0; i < Math.min(256, count); i++) next();
process.on('SIGTERM', () => {
  report();
  for (const s of sockets) s.destroy();
  process.exit(0);
});
