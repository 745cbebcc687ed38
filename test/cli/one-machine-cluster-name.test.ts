import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CLUSTER_NAME_PATTERN } from '../../src/cluster-api/keys';
import { oneMachineClusterName } from '../../src/cli/one-machine-cluster';

describe('oneMachineClusterName (cs start, cs demo)', () => {
  it('is start-<job name> unless --cluster or CS_CLUSTER names one', () => {
    assert.equal(oneMachineClusterName({}, 'tiny', {}), 'start-tiny');
    assert.equal(oneMachineClusterName({ cluster: 'blue' }, 'tiny', {}), undefined);
    assert.equal(oneMachineClusterName({}, 'tiny', { CS_CLUSTER: 'blue' }), undefined);
    assert.equal(oneMachineClusterName({}, 'tiny', { CS_CLUSTER: '' }), 'start-tiny');
  });

  it('is always a valid cluster name, whatever the job is called', () => {
    for (const name of ['a.b c', 'x'.repeat(100), 'ünïcode', 'with:colon{brace}']) {
      const cluster = oneMachineClusterName({}, name, {})!;
      assert.match(cluster, CLUSTER_NAME_PATTERN, cluster);
      assert.ok(cluster.startsWith('start-'));
    }
  });
});
