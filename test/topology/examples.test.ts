import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadTopologyFile } from '../../src/topology/load-topology';
import { packageRoot } from '../../src/package-root';

const dir = join(packageRoot(), 'topologies');

for (const file of readdirSync(dir).filter((f) => /\.(ya?ml|ts)$/.test(f))) {
  test(`topologies/${file} is valid as it is (type-checked when TypeScript)`, async () => {
    const loaded = await loadTopologyFile(join(dir, file), { typecheck: true });
    assert.ok(loaded.topology.spec.name.length > 0);
    assert.ok(loaded.topology.spec.model.path.startsWith(packageRoot()), loaded.topology.spec.model.path);
  });
}
