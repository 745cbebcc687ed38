/**
 * `npm run soak -- --minutes N` (not part of `npm test`): a cluster of real processes (a redis-server, a
 * JobManager and three TaskManagers serving the tiny model) under mixed good and bad load for N minutes,
 * with a TaskManager SIGKILLed and restarted every `--kill-every` seconds. Prints, per minute, the good
 * requests sent and answered, their latency (p50, p99) and every process's RSS; at the end, the lost and
 * duplicated counts (good requests) and how the bad ones were answered. Exit code 1 when a good request
 * was lost or answered twice, or a bad one got no error.
 *
 * Options: --minutes N (default 2), --rate R good requests/s (default 100), --bad-rate B bad stream
 * entries/s plus B bad KServe requests/s (default 20), --kill-every S seconds (default 30).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Redis from 'ioredis';
import { Pool } from 'undici';
import { resultKey } from '../../src/cluster-api/keys';
import { decodeResult } from '../../src/protocol/native/native-codec';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { TestCluster, type CsProcess } from '../support/cluster-processes';
import { LoadGenerator } from '../support/load-generator';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';
import { checkTinyResults, tinyInput, tinyTopology } from '../e2e/e2e-helpers';

const TASKMANAGERS = ['tm-1', 'tm-2', 'tm-3'];

function options(): { minutes: number; rate: number; badRate: number; killEvery: number } {
  const { values } = parseArgs({
    options: { minutes: { type: 'string', default: '2' }, rate: { type: 'string', default: '100' }, 'bad-rate': { type: 'string', default: '20' }, 'kill-every': { type: 'string', default: '30' } },
  });
  const number = (name: string, text: string | undefined): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0) {
      process.stderr.write(`soak: --${name} must be a positive number, got "${text}"\n`);
      process.exit(2);
    }
    return n;
  };
  return { minutes: number('minutes', values.minutes), rate: number('rate', values.rate), badRate: number('bad-rate', values['bad-rate']), killEvery: number('kill-every', values['kill-every']) };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function rssMiB(p: CsProcess): number | undefined {
  try {
    const status = readFileSync(`/proc/${p.child.pid}/status`, 'utf8');
    return Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1]) / 1024;
  } catch {
    return undefined;
  }
}

function roleOf(p: CsProcess): string {
  const args = p.child.spawnargs;
  const id = args[args.indexOf('--id') + 1];
  return args.includes('jobmanager') ? 'jobmanager' : (id ?? 'taskmanager');
}

async function main(): Promise<void> {
  const { minutes, rate, badRate, killEvery } = options();
  const redisUrl = await testRedisUrl();
  await ensureModels(defaultModelsDir(), ['tiny']);
  const dir = mkdtempSync(join(tmpdir(), 'cs-soak-'));
  const cluster = await TestCluster.start(redisUrl, dir);
  const redis = new Redis(redisUrl);
  const pool = new Pool(cluster.url, { connections: 4 });
  try {
    for (const id of TASKMANAGERS) await cluster.startTaskManager(id, 2);
    const name = uniqueName('soak');
    const { jobId } = await cluster.client.submitJob(tinyTopology(dir, name, 3, 3));
    await waitFor(async () => (await cluster.client.jobStatus(jobId)).subtasks.every((s) => s.taskManagerId !== null), { maxWaitMs: 30_000, what: 'subtasks assigned' });
    console.log(`soak: ${minutes} min, ${rate} good requests/s, ${badRate} bad entries/s + ${badRate} bad KServe requests/s, a TaskManager SIGKILLed every ${killEvery} s`);
    console.log('minute  sent  answered  p50 ms  p99 ms  kills  RSS MiB (jobmanager, taskmanagers)');

    const gen = new LoadGenerator(redisUrl, name, 3, tinyInput);
    const start = performance.now();
    const end = start + minutes * 60_000;
    let kills = 0;
    let badSent = 0;
    const badUris: string[] = [];
    const badStatuses = new Map<number, number>();
    let stopping = false;

    // Bad load beside the good: undecodable stream entries (each must get an error result) and KServe
    // bodies that are not requests (each must get a 4xx).
    const bad = (async () => {
      while (!stopping) {
        const uri = `bad-${badSent++}`;
        badUris.push(uri);
        await redis.xadd(`${name}:${badSent % 3}`, '*', 'uri', uri, 'data', Buffer.from([2, badSent & 0xff, 7]));
        const res = await pool.request({ method: 'POST', path: `/v2/models/${name}/infer`, body: `{"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, ${badSent % 20}], "data": [1]}]}`, headers: { 'content-type': 'application/json' } }).catch(() => undefined);
        if (res) {
          badStatuses.set(res.statusCode, (badStatuses.get(res.statusCode) ?? 0) + 1);
          await res.body.dump();
        } else badStatuses.set(0, (badStatuses.get(0) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 1000 / badRate));
      }
    })();

    // SIGKILL a TaskManager, then start it again, every killEvery seconds.
    const killer = (async () => {
      let next = start + killEvery * 1000;
      while (!stopping) {
        await new Promise((r) => setTimeout(r, 200));
        if (performance.now() < next || stopping) continue;
        const id = TASKMANAGERS[kills % TASKMANAGERS.length]!;
        const victim = cluster.processes.find((p) => roleOf(p) === id && p.child.exitCode === null && p.child.signalCode === null);
        if (victim) {
          victim.child.kill('SIGKILL');
          await victim.exited;
          kills++;
          await cluster.startTaskManager(id, 2);
        }
        next = performance.now() + killEvery * 1000;
      }
    })();

    // Per minute: latency of the good requests sent in it, memory of every live process.
    let minute = 0;
    let firstOfMinute = 0;
    const report = (): void => {
      const uris = gen.sentSince(firstOfMinute);
      firstOfMinute = gen.sent.size;
      const latencies = uris.flatMap((u) => {
        const r = gen.replies.get(u)?.[0];
        return r ? [r.at - gen.sent.get(u)!] : [];
      });
      latencies.sort((a, b) => a - b);
      const rss = cluster.processes
        .filter((p) => p.child.exitCode === null && p.child.signalCode === null)
        .map((p) => `${roleOf(p)} ${rssMiB(p)?.toFixed(0) ?? '?'}`)
        .join(', ');
      console.log(`${String(++minute).padStart(6)}  ${String(uris.length).padStart(4)}  ${String(latencies.length).padStart(8)}  ${percentile(latencies, 50).toFixed(1).padStart(6)}  ${percentile(latencies, 99).toFixed(1).padStart(6)}  ${String(kills).padStart(5)}  ${rss}`);
    };
    let nextReport = start + 60_000;
    await gen.runUntil(
      rate,
      () => {
        const now = performance.now();
        if (now >= nextReport && now < end) {
          nextReport += 60_000;
          // The minute's last requests may still be in flight: reported a minute late they would drift.
          report();
        }
        return now >= end;
      },
      { maxWaitMs: minutes * 60_000 + 60_000, what: 'the end of the soak' },
    );
    stopping = true;
    await Promise.all([bad, killer]);
    report();

    await waitFor(() => gen.missing().length === 0, { maxWaitMs: 60_000, what: 'every good request answered' }).catch(() => undefined);
    const lost = gen.missing().length;
    const duplicated = gen.duplicated().length;
    const wrong = checkTinyResults(gen).length;
    const badResults = await Promise.all(badUris.map((u) => redis.hgetBuffer(resultKey(name, u), 'value')));
    const badErrors = badResults.filter((v) => v && decodeResult(v).error).length;
    const bad4xx = [...badStatuses].filter(([s]) => s >= 400 && s < 500).reduce((n, [, c]) => n + c, 0);
    console.log(
      `good: sent ${gen.sent.size}, answered ${gen.sent.size - lost}, lost ${lost}, duplicated ${duplicated}, wrong ${wrong}; ` +
        `bad stream entries: ${badUris.length}, error results ${badErrors}; bad KServe requests: ${[...badStatuses.values()].reduce((a, b) => a + b, 0)}, statuses ${JSON.stringify(Object.fromEntries(badStatuses))}; ` +
        `TaskManager kills ${kills}`,
    );
    console.log(JSON.stringify({ minutes, rate, badRate, killEvery, sent: gen.sent.size, lost, duplicated, wrong, badEntries: badUris.length, badErrors, bad4xx, kills }));
    await gen.close();
    process.exitCode = lost === 0 && duplicated === 0 && wrong === 0 && badErrors === badUris.length && bad4xx === badSent ? 0 : 1;
  } finally {
    await pool.close();
    redis.disconnect();
    await cluster.stop();
    await stopTestRedis();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
