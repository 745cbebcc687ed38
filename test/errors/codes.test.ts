import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES } from '../../src/errors/codes';
import { ClusterServingError, RequestError, TopologyError, toClusterServingError } from '../../src/errors';
import { packageRoot } from '../../src/package-root';

test('every error code is documented in ARCHITECTURE.md with the registry text, and nothing else is', () => {
  const doc = readFileSync(join(packageRoot(), 'ARCHITECTURE.md'), 'utf8');
  const documented = new Map([...doc.matchAll(/^\| (CS_ERR_[A-Z_]+) \| (.*) \|$/gm)].map((m) => [m[1]!, m[2]!]));
  for (const [code, { docs }] of Object.entries(ERROR_CODES)) assert.equal(documented.get(code), docs, `${code} in ARCHITECTURE.md`);
  assert.deepEqual([...documented.keys()].sort(), Object.keys(ERROR_CODES).sort());
});

test('errors carry code, retriable, cause and their class name', () => {
  const cause = new Error('root');
  const e = new RequestError('CS_ERR_SHAPE', 'bad shape', { cause, context: { uri: 'u' } });
  assert.equal(e.name, 'RequestError');
  assert.equal(e.code, 'CS_ERR_SHAPE');
  assert.equal(e.retriable, false);
  assert.equal(e.cause, cause);
  assert.ok(e instanceof ClusterServingError);
  const t = new TopologyError(['a: x', 'b: y']);
  assert.match(t.message, /a: x[\s\S]*b: y/);
  assert.equal(toClusterServingError(new TypeError('oops')).code, 'CS_ERR_INTERNAL');
  assert.equal(new ClusterServingError('CS_ERR_CONNECTOR', 'down').retriable, true);
});
