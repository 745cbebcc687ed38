import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InputQueue } from '../../src/client/input-queue';
import { TestCluster } from '../support/cluster-processes';
import { submitTinyJob } from '../support/logged-cs';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';
import { lines, runCs } from './run-cs';

describe('cs top', () => {
  let dir: string;
  let redisUrl: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-top-'));
    redisUrl = await testRedisUrl();
  });
  after(async () => {
    await stopTestRedis();
    await rm(dir, { recursive: true, force: true });
  });

  it('--once shows a running job under load with its throughput above zero and its totals', async () => {
    const cluster = await TestCluster.start(redisUrl, dir);
    let loading = true;
    try {
      await cluster.startTaskManager(uniqueName('tm'), 1);
      const name = uniqueName('top');
      await submitTinyJob(cluster.client, dir, name);
      const q = new InputQueue({ redis: redisUrl, stream: name });
      const load = (async () => {
        const input = { input: { data: new Float32Array(16), shape: [1, 16] } };
        while (loading) await Promise.all(Array.from({ length: 8 }, () => q.predict(input, { timeoutMs: 30_000 })));
      })();
      try {
        const row = await waitFor(
          async () => {
            const top = await runCs(['top', '--once', '--jobmanager', cluster.url]);
            assert.equal(top.code, 0, top.stderr);
            const out = lines(top.stdout);
            assert.match(out[0]!, /^cs top {2}\S+Z {2}http:\/\/127\.0\.0\.1:\d+ {2}1 TaskManager, 0\/1 slots free$/);
            assert.match(out[2]!, /^JOB\s+STATE\s+PAR\s+REQ\/S\s+ERR\/S\s+P50 MS\s+P99 MS\s+BATCH\s+LAG\s+PENDING\s+REQUESTS\s+ERRORS$/);
            const cells = out.find((l) => l.startsWith(name))?.split(/\s+/);
            return cells && Number(cells[3]) > 0 && Number(cells[10]) > 0 ? cells : undefined;
          },
          { maxWaitMs: 90_000, intervalMs: 500, what: `cs top showing ${name} with requests/s above zero` },
        );
        assert.equal(row[1], 'RUNNING');
        assert.equal(row[4], '0.0', 'no errors');
      } finally {
        loading = false;
        await load.catch(() => undefined);
        await q.close();
      }
    } finally {
      await cluster.stop();
    }
  });
});
