import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputQueue } from '../../src/client/input-queue';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { freePort } from '../../src/embedded/free-port';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { tinyReference } from '../../src/models/tiny-mlp';
import { toTypedArray } from '../../src/tensor/tensor';
import { startLoggedCs, submitTinyJob } from '../support/logged-cs';
import { PersistentRedis } from '../support/persistent-redis';
import { uniqueName, waitFor } from '../support/wait-for';
import { tinyInput } from './e2e-helpers';

/** `redis.unavailable` log lines per process and connection: each outage is logged once per connection, not per retry. */
function outageLogsPerConnection(output: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const line of output.split('\n')) {
    if (!line.includes('"redis.unavailable"')) continue;
    const entry = JSON.parse(line) as { pid: number; connection?: string; connectionId?: number };
    const key = `${entry.pid}/${entry.connection ?? '?'}#${entry.connectionId ?? '?'}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

test('Redis (AOF, appendfsync always) SIGKILLed and restarted on the same port and dir under load: every request the TypeScript client sent is answered', async () => {
  await ensureModels(defaultModelsDir(), ['tiny']);
  const dir = mkdtempSync(join(tmpdir(), 'cs-redis-outage-'));
  const redis = await PersistentRedis.start();
  const port = await freePort();
  const jmUrl = `http://127.0.0.1:${port}`;
  const jm = startLoggedCs(['jobmanager', 'start', '--port', String(port), '--redis', redis.url, '--cache-dir', join(dir, 'jm')]);
  const tm = startLoggedCs(['taskmanager', 'start', '--jobmanager', jmUrl, '--redis', redis.url, '--slots', '2', '--id', 'tm-outage', '--cache-dir', join(dir, 'tm')]);
  const unhandled: string[] = [];
  const consoleError = console.error;
  console.error = (...args: unknown[]) => {
    if (args.some((a) => String(a).includes('Unhandled error event'))) unhandled.push(args.map(String).join(' '));
    consoleError(...args);
  };
  const client = new JobManagerClient(jmUrl);
  try {
    await waitFor(async () => (await client.listTaskManagers()).taskmanagers.length === 1, { maxWaitMs: 30_000, what: 'the TaskManager registered' });
    const name = uniqueName('outage');
    await submitTinyJob(client, dir, name, 2);
    const q = new InputQueue({ redis: redis.url, stream: name, partitions: 2 });
    // A first request answered: the subtasks read.
    await waitFor(() => q.predict(tinyInput(0), { timeoutMs: 5000 }).then(() => true), { maxWaitMs: 60_000, what: 'a first request answered' });

    // Over HTTP too (the JobManager's KServe gateway writes to and reads from Redis): a tenth of the pace, each with a 60 s deadline (`timeout` is in µs, as Triton's).
    const infer = async (i: number): Promise<number[]> => {
      const input = [...(toTypedArray(tinyInput(i).get('input')!) as Float32Array)];
      const response = await fetch(`${jmUrl}/v2/models/${name}/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 16], data: input }], parameters: { timeout: 60_000_000 } }),
      });
      const body = (await response.json()) as { outputs?: { data: number[] }[]; error?: string };
      if (!response.ok || !body.outputs) throw new Error(`HTTP ${response.status}: ${body.error ?? JSON.stringify(body)}`);
      return body.outputs[0]!.data;
    };
    await waitFor(() => infer(0).then(() => true), { maxWaitMs: 60_000, what: 'a first HTTP request answered' });
    let httpSent = 0;
    let httpAnswered = 0;
    const httpLost: string[] = [];
    let sent = 0;
    let answered = 0;
    const wrong: string[] = [];
    const lost: string[] = [];
    const pending: Promise<void>[] = [];
    let killedAt = 0;
    let restartedAt = 0;
    let restart: Promise<void> | undefined;
    const rate = 40;
    const start = Date.now();
    // Steady load for 12 s; Redis is killed once 100 requests are answered, and started again 1.5 s later.
    while (Date.now() - start < 12_000 || restart === undefined) {
      const due = Math.floor(((Date.now() - start) / 1000) * rate);
      while (sent < due) {
        const i = sent++;
        pending.push(
          q.predict(tinyInput(i), { timeoutMs: 90_000 }).then(
            (out) => {
              answered++;
              const want = tinyReference(toTypedArray(tinyInput(i).get('input')!) as Float32Array, 1);
              const got = toTypedArray(out.get('output')!) as Float32Array;
              if (got.some((v, k) => Math.abs(v - want[k]!) > 1e-5)) wrong.push(`request ${i}`);
            },
            (err: unknown) => {
              lost.push(`request ${i}: ${String(err)}`);
            },
          ),
        );
        if (i % 10 === 0) {
          httpSent++;
          pending.push(
            infer(i).then(
              (data) => {
                httpAnswered++;
                const want = tinyReference(toTypedArray(tinyInput(i).get('input')!) as Float32Array, 1);
                if (data.some((v, k) => Math.abs(v - want[k]!) > 1e-4)) wrong.push(`HTTP request ${i}`);
              },
              (err: unknown) => {
                httpLost.push(`HTTP request ${i}: ${String(err)}`);
              },
            ),
          );
        }
      }
      if (killedAt === 0 && answered >= 100) {
        await redis.kill();
        killedAt = Date.now();
      }
      if (killedAt !== 0 && restart === undefined && Date.now() - killedAt >= 1500) {
        restart = redis.restart().then(() => {
          restartedAt = Date.now();
        });
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await restart;
    await Promise.all(pending);
    const sentBeforeKill = Math.floor(((killedAt - start) / 1000) * rate);
    console.log(
      `redis outage drill (TypeScript client, appendfsync always): sent ${sent}, answered ${answered}, lost ${lost.length}, wrong ${wrong.length}; ` +
        `redis down ${restartedAt - killedAt} ms (about ${sentBeforeKill} requests sent before the kill); ` +
        `KServe HTTP through the JobManager: sent ${httpSent}, answered ${httpAnswered}, lost ${httpLost.length}`,
    );
    await q.close();
    assert.deepEqual(lost, [], 'no request lost');
    assert.deepEqual(httpLost, [], 'no HTTP request lost');
    assert.equal(httpAnswered, httpSent);
    assert.deepEqual(wrong, [], 'every answer right');
    assert.equal(answered, sent);
    assert.equal(jm.child.exitCode, null, `the JobManager still runs:\n${jm.output()}`);
    assert.equal(tm.child.exitCode, null, `the TaskManager still runs:\n${tm.output()}`);
    for (const [who, text] of [['client', unhandled.join('\n')], ['JobManager', jm.output()], ['TaskManager', tm.output()]] as const) {
      assert.ok(!text.includes('Unhandled error event'), `no unhandled ioredis error event in the ${who}:\n${text}`);
    }
    const outageLogs = new Map([...outageLogsPerConnection(jm.output()), ...outageLogsPerConnection(tm.output())]);
    assert.ok(outageLogs.size > 0, 'the outage was logged');
    console.log(`JobManager log:\n${jm.output()}\nTaskManager log:\n${tm.output()}`);
    for (const [connection, count] of outageLogs) assert.equal(count, 1, `${connection} logged the outage once, not per retry`);
  } finally {
    console.error = consoleError;
    jm.child.kill('SIGKILL');
    tm.child.kill('SIGKILL');
    await redis.stop();
  }
});
