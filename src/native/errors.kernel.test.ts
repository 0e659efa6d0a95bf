/** Failures a user meets, on the real kernel: messages, codes, errno names, the log kept. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CollectorError } from '../errors.ts';
import { openObject, verifierReason } from './index.ts';
import { ADDON_TEST, ATTACH_FAIL, EXTERN_MISSING, VERIFIER_REJECT } from './kernel-fixtures.ts';
import { programIdsHeldBy, waitForRelease } from '../../test/helpers/bpf-programs.ts';
import { ensureTracefs } from './tracefs.ts';

function caught(fn: () => unknown): CollectorError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CollectorError, `expected a CollectorError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a throw');
}

describe('errors', () => {
  it('verifier rejection: code, key verifier line, log excerpt without kernel addresses', () => {
    ensureTracefs();
    const spec = openObject(VERIFIER_REJECT);
    const before = programIdsHeldBy('self');
    const err = caught(() => spec.load());
    assert.equal(err.code, 'ERR_BPF_VERIFIER');
    assert.equal(
      err.message,
      `load ${VERIFIER_REJECT}: program reject_null_deref: verifier rejected it: R0 invalid mem access 'map_value_or_null' (verifier_reject.bpf.c:27)`,
    );
    assert.ok(err.details.length > 3 && err.details.length <= 20, err.details.join('\n'));
    assert.ok(err.details.includes("R0 invalid mem access 'map_value_or_null'"));
    assert.ok(err.details.some((l) => /call bpf_map_lookup_elem/.test(l)));
    assert.ok(!err.details.some((l) => /0xffff[0-9a-f]{8}/i.test(l)), err.details.join('\n'));
    assert.ok(
      err.details.some((l) => l.includes('0x…')),
      'the map pointer is redacted, not dropped',
    );
    assert.match(err.format(), /\[ERR_BPF_VERIFIER\]$/);
    assert.throws(() => spec.programs(), { code: 'ERR_BPF_CLOSED' }); // consumed
    assert.deepEqual(programIdsHeldBy('self'), before, 'a rejected load holds no program');
  });

  it('picks the reason line out of a verifier log', () => {
    assert.equal(
      verifierReason([
        '0: R1=ctx() R10=fp0',
        '; return *v; @ x.bpf.c:41',
        '7: (79) r1 = *(u64 *)(r0 +0)',
        "R1 invalid mem access 'scalar'",
        'processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0',
      ]),
      "R1 invalid mem access 'scalar' (x.bpf.c:41)",
    );
    assert.equal(verifierReason(['processed 1 insns']), undefined);
  });

  it('missing file: ERR_BPF_OPEN with ENOENT by name', () => {
    const err = caught(() => openObject('/nonexistent/nope.bpf.o'));
    assert.equal(err.code, 'ERR_BPF_OPEN');
    assert.equal(err.message, 'open /nonexistent/nope.bpf.o: ENOENT (no such file or directory)');
    assert.ok(err.details.some((l) => l.includes('failed to open /nonexistent/nope.bpf.o')));
  });

  it("an extern nothing defines: the extern is the headline, not libbpf's ENOENT", () => {
    // libbpf 1.1 refuses it at open; a newer libbpf may take it to load and look it up as a kfunc.
    const before = programIdsHeldBy('self');
    const err = caught(() => openObject(EXTERN_MISSING).load());
    assert.equal(err.code, 'ERR_BPF_EXTERN', err.formatLong());
    assert.match(err.message, /^(open|load) .*extern_missing\.bpf\.o: extern (kfunc )?'memcmp' is not/);
    assert.doesNotMatch(err.message, /ENOENT/);
    assert.ok(
      err.details.some((l) => l.includes("'memcmp'")),
      'the libbpf log stays under the headline',
    );
    assert.deepEqual(programIdsHeldBy('self'), before, 'a refused object holds no program');
  });

  it('not an ELF object: ERR_BPF_OPEN naming the errno', () => {
    const err = caught(() => openObject(new URL(import.meta.url).pathname));
    assert.equal(err.code, 'ERR_BPF_OPEN');
    assert.match(err.message, /^open .*errors\.kernel\.test\.ts: [A-Z_0-9]+ \(.+\)$/);
  });

  it('fentry: load fails with EPERM by name (this kernel has no BPF trampolines)', () => {
    const spec = openObject(ATTACH_FAIL);
    spec.setAutoload('kprobe_nanosleep', false);
    let obj;
    try {
      obj = spec.load();
    } catch (err) {
      assert.ok(err instanceof CollectorError);
      assert.equal(err.code, 'ERR_BPF_LOAD');
      assert.equal(
        err.message,
        `load ${ATTACH_FAIL}: program fentry_nanosleep: EPERM (operation not permitted)`,
      );
      assert.match(err.details[0] ?? '', /refused a tracing program before the verifier ran/);
      return;
    }
    // A kernel with trampolines: then it must attach.
    try {
      assert.equal(obj.attach()[0]?.attached, true);
    } finally {
      obj.close();
    }
  });

  it('kprobe: loads, and attach reports the errno by name (no kprobe PMU here) without throwing', async () => {
    ensureTracefs();
    const spec = openObject(ATTACH_FAIL);
    spec.setAutoload('fentry_nanosleep', false);
    const obj = spec.load();
    const ids = obj.programs().flatMap((p) => (p.id === undefined ? [] : [p.id]));
    assert.equal(ids.length, 1, 'kprobe_nanosleep loaded');
    try {
      const [r] = obj.attach();
      assert.ok(r);
      assert.equal(r.program, 'kprobe_nanosleep');
      assert.equal(r.section, 'kprobe/do_nanosleep');
      if (r.attached) return; // a kernel with kprobes
      assert.equal(r.errno, 'ENOENT');
      assert.equal(r.error, 'ENOENT (no such file or directory)');
      assert.ok(
        r.log?.some((l) => /kprobe/.test(l)),
        r.log?.join('\n'),
      );
    } finally {
      obj.close();
    }
    const held = programIdsHeldBy('self');
    assert.ok(!held.includes(ids[0] as number), 'close released the program fd');
    await waitForRelease(ids);
  });

  it('external BTF: used for CO-RE when given; a bad path fails naming the errno', () => {
    const good = openObject(ADDON_TEST, { btfPath: '/sys/kernel/btf/vmlinux' }).load();
    good.close();
    const err = caught(() => openObject(ADDON_TEST, { btfPath: '/nonexistent/vmlinux.btf' }).load());
    assert.ok(err.code === 'ERR_BPF_OPEN' || err.code === 'ERR_BPF_LOAD', err.code);
    assert.equal(
      err.message,
      `load ${ADDON_TEST}: read BTF /nonexistent/vmlinux.btf for CO-RE: ENOENT (no such file or directory)`,
    );
  });
});
