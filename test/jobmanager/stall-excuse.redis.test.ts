import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { ControlPlane } from '../../jobmanager/control-plane';
import { JobStore } from '../../jobmanager/state/job-store';
import { TaskManagerRegistry } from '../../jobmanager/state/taskmanager-registry';
import { ClusterServingError } from '../../src/errors';
import { createLogger } from '../../src/logging/logger';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName } from '../support/wait-for';

let redis: Redis;
before(async () => {
  redis = new Redis(await testRedisUrl());
});
after(async () => {
  redis.disconnect();
  await stopTestRedis();
});

test('a stall of the JobManager counts as no TaskManager\'s silence, yet a silent TaskManager is lost after a timeout of awake time', async () => {
  let now = 1_000_000;
  const registry = new TaskManagerRegistry(redis);
  const control = new ControlPlane({
    jobs: new JobStore(redis),
    taskManagers: registry,
    validate: () => Promise.reject(new ClusterServingError('CS_ERR_TOPOLOGY', 'no jobs here')),
    heartbeatIntervalMs: 500,
    heartbeatTimeoutMs: 2000,
    logger: createLogger('test', 'silent'),
    now: () => now,
  });
  const id = uniqueName('tm');
  await control.register({ id, host: 'h', slots: 1 });
  const known = async (): Promise<boolean> => (await control.listTaskManagers()).taskmanagers.some((t) => t.id === id);
  // Silent from here. The JobManager stalls 3 s of the next 3.5 s: 0.5 s of awake silence.
  control.noteStall(now + 500, now + 3500);
  now += 3500;
  await control.reassign();
  assert.ok(await known(), 'not lost: most of its silence was the JobManager stalling');
  now += 1400; // 1.9 s awake
  await control.reassign();
  assert.ok(await known());
  now += 200; // 2.1 s awake > 2 s timeout
  await control.reassign();
  assert.equal(await known(), false, 'lost after a timeout of awake time');
  await registry.remove(id);
});
