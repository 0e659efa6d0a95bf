import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextRecord, RECORD_HEADER_BYTES } from './buffers.ts';

test('nextRecord steps over the header and the record padded to 8 bytes', () => {
  // nextRecord writes the header size out (a literal is folded; an exported binding is not).
  assert.equal(nextRecord(0, 0), RECORD_HEADER_BYTES);
  assert.equal(nextRecord(0, 16), RECORD_HEADER_BYTES + 16);
  assert.equal(nextRecord(24, 1), 24 + RECORD_HEADER_BYTES + 8);
  assert.equal(nextRecord(24, 9), 24 + RECORD_HEADER_BYTES + 16);
});
