import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { BasicAuth, basicCredentials } from './basic-auth.ts';

const header = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('basic auth', () => {
  it('reads the user and password of a Basic header (the password may hold ":")', () => {
    assert.deepEqual(basicCredentials(header('alice', 'a:b')), { user: 'alice', password: 'a:b' });
    assert.deepEqual(basicCredentials(`basic  ${Buffer.from('u:').toString('base64')}`), {
      user: 'u',
      password: '',
    });
    assert.equal(basicCredentials(undefined), undefined);
    assert.equal(basicCredentials('Bearer abc'), undefined);
    assert.equal(basicCredentials(`Basic ${Buffer.from('nocolon').toString('base64')}`), undefined);
  });

  it('checks $2y$ (htpasswd) and $2b$ hashes; unknown users and wrong passwords fail', async () => {
    const auth = new BasicAuth();
    const b = bcrypt.hashSync('pw', 4);
    const users = new Map([
      ['alice', b.replace(/^\$2b\$/, '$2y$')],
      ['bob', b],
    ]);
    assert.equal(await auth.check(users, header('alice', 'pw')), true);
    assert.equal(await auth.check(users, header('bob', 'pw')), true);
    assert.equal(await auth.check(users, header('alice', 'PW')), false);
    assert.equal(await auth.check(users, header('carol', 'pw')), false);
    assert.equal(await auth.check(users, undefined), false);
  });

  it('remembers at most 100 results, and a changed hash is checked anew', async () => {
    const auth = new BasicAuth();
    const users = new Map([['alice', bcrypt.hashSync('pw', 4)]]);
    assert.equal(await auth.check(users, header('alice', 'pw')), true);
    assert.equal(auth.cached, 1);
    assert.equal(await auth.check(users, header('alice', 'pw')), true);
    assert.equal(auth.cached, 1, 'a repeated scrape is a cache hit');
    for (let i = 0; i < 150; i++) assert.equal(await auth.check(users, header('alice', `wrong${i}`)), false);
    assert.equal(auth.cached, 100);
    // The password is the same but the hash changed (the web config was edited): no stale answer.
    users.set('alice', bcrypt.hashSync('other', 4));
    assert.equal(await auth.check(users, header('alice', 'pw')), false);
  });

  it('runs at most 8 bcrypt checks at once; the same credentials share one run', async () => {
    const auth = new BasicAuth();
    const users = new Map([['alice', bcrypt.hashSync('pw', 8)]]);
    const same = await Promise.all(
      Array.from({ length: 20 }, () => auth.check(users, header('alice', 'pw'))),
    );
    assert.deepEqual(new Set(same), new Set([true]));
    const distinct = await Promise.all(
      Array.from({ length: 12 }, (_, i) => auth.check(users, header('alice', `guess${i}`))),
    );
    assert.deepEqual(distinct.slice(0, 8), Array(8).fill(false));
    assert.deepEqual(distinct.slice(8), Array(4).fill('busy'));
  });

  it('loads bcryptjs only at the first check (an agent without basic auth never does)', () => {
    // A fresh process: this file's own import of bcryptjs must not count.
    const script = `
      import { registerHooks } from 'node:module';
      const seen = [];
      registerHooks({ resolve(s, c, next) { const r = next(s, c); seen.push(r.url); return r; } });
      const { BasicAuth } = await import(${JSON.stringify(new URL('./basic-auth.ts', import.meta.url).href)});
      const before = seen.some((u) => u.includes('/bcryptjs/'));
      const hash = '$2b$04$' + 'a'.repeat(53);
      await new BasicAuth().check(new Map([['u', hash]]), 'Basic ' + Buffer.from('u:p').toString('base64'));
      console.log(JSON.stringify({ before, after: seen.some((u) => u.includes('/bcryptjs/')) }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { before: false, after: true });
  });
});
