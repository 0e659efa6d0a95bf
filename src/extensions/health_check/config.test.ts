import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { CollectorErrors } from '../../errors.ts';
import { agentConfigFrom, effectiveConfig } from '../../service.ts';
import { loadConfigFiles } from '../../config/load.ts';

const td = (name: string): string => relative(process.cwd(), join(import.meta.dirname, 'testdata', name));

test('good: defaults applied, both enabled in service.extensions order, printed as written', async () => {
  const config = agentConfigFrom(await loadConfigFiles([td('good.yaml')], {}));
  assert.deepEqual([...(config.extensions ?? new Map()).keys()], ['health_check', 'health_check/1']);
  const printed = effectiveConfig(config)['extensions'] as Record<string, Record<string, unknown>>;
  assert.deepEqual(printed['health_check'], { endpoint: '0.0.0.0:13133', path: '/' });
  assert.equal(printed['health_check/1']?.['endpoint'], '127.0.0.1:13134');
});

test('bad: unknown extension types, a bad endpoint and path, and an unsupported key are positioned errors', async () => {
  const loaded = await loadConfigFiles([td('bad.yaml')], {});
  let messages: string[] = [];
  try {
    agentConfigFrom(loaded);
    assert.fail('bad.yaml was accepted');
  } catch (err) {
    assert.ok(err instanceof CollectorErrors, String(err));
    messages = err.errors.map((e) => e.format());
  }
  const file = td('bad.yaml');
  const expect = [
    new RegExp(`^${file}:8:15: extensions\\.health_check\\.endpoint: .*\\[ERR_CONFIG_`),
    new RegExp(`^${file}:9:11: extensions\\.health_check\\.path: expected a path like "/".*\\[ERR_CONFIG_`),
    new RegExp(
      `^${file}:10:31: extensions\\.health_check\\.check_collector_pipeline: not supported: .*\\[ERR_CONFIG_VALUE\\]`,
    ),
    new RegExp(
      `^${file}:11:3: extensions\\.healthcheck/typo: unknown extension type "healthcheck"; expected one of health_check \\(did you mean "health_check"\\?\\) \\[ERR_CONFIG_UNKNOWN_TYPE\\]`,
    ),
    new RegExp(
      `^${file}:12:3: extensions\\.zpages: unknown extension type "zpages"; expected one of health_check.*\\[ERR_CONFIG_UNKNOWN_TYPE\\]`,
    ),
  ];
  for (const re of expect)
    assert.ok(
      messages.some((m) => re.test(m)),
      `${re}\n${messages.join('\n')}`,
    );
});
