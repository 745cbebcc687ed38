import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TopologyError } from '../../src/errors/cluster-serving-error';
import { parseYamlTopology } from '../../src/topology/load-yaml';

/** Found by the fuzz suite (test/fuzz/rest-doors.redis.test.ts): yaml throws on these, which became a 500. */
test('an alias bomb is a TopologyError (400), not an internal error', () => {
  const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let d = 1; d < 9; d++) lines.push(`a${d}: &a${d} [${Array.from({ length: 10 }, () => `*a${d - 1}`).join(', ')}]`);
  assert.throws(
    () => parseYamlTopology(`${lines.join('\n')}\nname: bomb\n`, 'bomb.yaml'),
    (err: unknown) => err instanceof TopologyError && err.code === 'CS_ERR_TOPOLOGY' && /^bomb\.yaml: .*alias/i.test(err.problems[0] ?? ''),
  );
});

test('an alias to no anchor is a TopologyError, also as a merge key', () => {
  for (const text of ['name: *a\n', '<<: *nothing\n']) {
    assert.throws(() => parseYamlTopology(text, 't.yaml'), (err: unknown) => err instanceof TopologyError && /alias/i.test(err.problems[0] ?? ''), text);
  }
});
