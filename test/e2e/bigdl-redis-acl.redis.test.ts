import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { freePort } from '../../src/embedded/free-port';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { packageRoot } from '../../src/package-root';
import { startLoggedCs, type LoggedCs } from '../support/logged-cs';
import { PersistentRedis } from '../support/persistent-redis';
import { waitFor } from '../support/wait-for';

/**
 * The ACL set-up README.md documents for unmodified BigDL clients (which cannot send a password), for a
 * job whose stream is `serving_stream`: the cluster's processes log in as `cs`; the `default` user (the
 * one a client that sends no AUTH is) may only add requests to the job's stream (a selector: XADD and
 * XGROUP CREATE there, nothing else) and read and delete its result hashes, with the commands the BigDL client uses. Keep the two in step.
 */
const ACL_SETUP = [
  ['ACL', 'SETUSER', 'cs', 'on', '>CS_PASSWORD', '~*', '&*', '+@all'],
  ['ACL', 'SETUSER', 'default', 'reset', 'on', 'nopass', '~cluster-serving_serving_stream:*', '+hgetall', '+del', '+keys', '+info', '+ping', '(~serving_stream +xadd +xgroup|create)'],
];

function isNoPerm(err: unknown): boolean {
  return err instanceof Error && /NOPERM/.test(err.message);
}

describe('Redis ACL for unmodified BigDL clients (no password; a default user limited to the job keys)', () => {
  const password = `cs-${Math.random().toString(36).slice(2)}`;
  let redis: PersistentRedis;
  let dir: string;
  let bigdl: Redis;
  const processes: LoggedCs[] = [];

  before(async () => {
    await ensureModels(defaultModelsDir(), ['tiny']);
    dir = mkdtempSync(join(tmpdir(), 'cs-bigdl-acl-'));
    redis = await PersistentRedis.start();
    const admin = new Redis(redis.url);
    for (const command of ACL_SETUP) await admin.call(command[0]!, ...command.slice(1).map((a) => a.replace('CS_PASSWORD', password)));
    admin.disconnect();
    // What a BigDL client is: no AUTH, so the `default` user.
    bigdl = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    bigdl.on('error', () => undefined);
  });

  after(async () => {
    bigdl?.disconnect();
    for (const p of processes) p.child.kill('SIGKILL');
    await redis?.stop();
  });

  it('the cluster (user cs, password from CS_REDIS_PASSWORD) serves a BigDL job; the restricted default user sends a request and reads and deletes its result', async () => {
    const port = await freePort();
    const jmUrl = `http://127.0.0.1:${port}`;
    const url = `redis://cs@127.0.0.1:${redis.port}`;
    const env = { CS_REDIS_PASSWORD: password };
    const jm = startLoggedCs(['jobmanager', 'start', '--port', String(port), '--redis', url, '--cache-dir', join(dir, 'jm')], env);
    const tm = startLoggedCs(['taskmanager', 'start', '--jobmanager', jmUrl, '--redis', url, '--id', 'tm-acl', '--cache-dir', join(dir, 'tm')], env);
    processes.push(jm, tm);
    const client = new JobManagerClient(jmUrl);
    await waitFor(async () => (await client.listTaskManagers()).taskmanagers.length === 1, { maxWaitMs: 30_000, what: `the TaskManager registered (${jm.output()} ${tm.output()})` });
    const source = `name: serving_stream\nsource: { type: redis, protocol: bigdl }\nmodel: { path: ${join(defaultModelsDir(), 'tiny.onnx')} }\nbatch: { maxSize: 16, maxDelayMs: 1 }\n`;
    const { jobId } = await client.submitJob({ filename: 'serving_stream.yaml', source, baseDir: dir });
    await waitFor(async () => (await client.jobStatus(jobId)).state === 'RUNNING', { maxWaitMs: 60_000, what: 'the BigDL job RUNNING' });

    // The BigDL client's calls, in its order: XGROUP CREATE at construction (an error is printed and ignored), INFO then XADD per request.
    await bigdl.xgroup('CREATE', 'serving_stream', 'serving', '$').catch((err: unknown) => assert.ok(!isNoPerm(err), String(err)));
    assert.match(await bigdl.info(), /used_memory/);
    // A request recorded from the real bigdl-serving 2.4.0 client (a 2×3 tensor: the tiny model answers with a shape error, in the result hash all the same).
    const data = readFileSync(join(packageRoot(), 'test', 'fixtures', 'bigdl', 'dense.b64'), 'utf8');
    assert.match(String(await bigdl.xadd('serving_stream', '*', 'uri', 'acl-1', 'data', data)), /^\d+-\d+$/);
    // OutputQueue.query / dequeue: HGETALL, KEYS, DEL.
    const key = 'cluster-serving_serving_stream:acl-1';
    const result = await waitFor(async () => {
      const h = await bigdl.hgetall(key);
      return Object.keys(h).length > 0 ? h : undefined;
    }, { maxWaitMs: 30_000, what: 'the result hash' });
    assert.ok('value' in result, JSON.stringify(result));
    assert.deepEqual(await bigdl.keys('cluster-serving_serving_stream:*'), [key]);
    assert.equal(await bigdl.del(key), 1);
    assert.equal(jm.child.exitCode, null, jm.output());
    assert.equal(tm.child.exitCode, null, tm.output());
  });

  it('the default user can touch nothing else: other keys, other streams, reading the stream, admin commands', async () => {
    const denied: [string, () => Promise<unknown>][] = [
      ['GET another key', () => bigdl.get('cs:jobs')],
      ['SET', () => bigdl.set('x', '1')],
      ['XADD to another stream', () => bigdl.xadd('other_stream', '*', 'uri', 'u', 'data', 'd')],
      ['HGETALL of another job\'s result', () => bigdl.hgetall('cluster-serving_other:u')],
      ['DEL the job stream', () => bigdl.del('serving_stream')],
      ['XREADGROUP the job stream', () => bigdl.xreadgroup('GROUP', 'serving', 'c', 'COUNT', 1, 'STREAMS', 'serving_stream', '>')],
      ['XGROUP DESTROY', () => bigdl.xgroup('DESTROY', 'serving_stream', 'serving')],
      ['EXPIRE the stream', () => bigdl.expire('serving_stream', 1)],
      ['FLUSHALL', () => bigdl.flushall()],
      ['CONFIG GET', () => bigdl.config('GET', 'requirepass')],
      ['ACL LIST', () => bigdl.acl('LIST')],
      ['EVAL', () => bigdl.eval('return 1', 0)],
    ];
    for (const [what, call] of denied) await assert.rejects(call(), isNoPerm, `${what} must be refused`);
  });
});
