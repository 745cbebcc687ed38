import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputQueue } from '../../src/client/input-queue';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { freePort } from '../../src/embedded/free-port';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { runCs } from '../cli/run-cs';
import { startLoggedCs, submitTinyJob, type LoggedCs } from '../support/logged-cs';
import { PersistentRedis } from '../support/persistent-redis';
import { uniqueName, waitFor } from '../support/wait-for';
import { tinyInput } from './e2e-helpers';

/** What `ps` shows for a process: its command line. */
function commandLine(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
}

describe('the Redis password from the environment or a file, never echoed', () => {
  const secret = `pw-${Math.random().toString(36).slice(2)}-s3cr3t`;
  let redis: PersistentRedis;
  let dir: string;
  let passwordFile: string;
  const processes: LoggedCs[] = [];

  before(async () => {
    await ensureModels(defaultModelsDir(), ['tiny']);
    dir = mkdtempSync(join(tmpdir(), 'cs-redis-password-'));
    passwordFile = join(dir, 'redis-password');
    writeFileSync(passwordFile, `${secret}\n`, { mode: 0o600 });
    redis = await PersistentRedis.start({ extraArgs: ['--requirepass', secret] });
  });

  after(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    await redis?.stop();
  });

  it('a JobManager (CS_REDIS_PASSWORD) and a TaskManager (--redis-password-file) serve; the password is in no argv, log, status or listing', async () => {
    const port = await freePort();
    const jmUrl = `http://127.0.0.1:${port}`;
    // Debug logs: the most a process ever writes.
    const jm = startLoggedCs(['jobmanager', 'start', '--port', String(port), '--redis', redis.url, '--cache-dir', join(dir, 'jm')], { CS_REDIS_PASSWORD: secret, CS_LOG_LEVEL: 'debug' });
    const tm = startLoggedCs(['taskmanager', 'start', '--jobmanager', jmUrl, '--redis', redis.url, '--redis-password-file', passwordFile, '--id', 'tm-pw', '--cache-dir', join(dir, 'tm')], {
      CS_LOG_LEVEL: 'debug',
    });
    processes.push(jm, tm);
    const client = new JobManagerClient(jmUrl);
    await waitFor(async () => (await client.listTaskManagers()).taskmanagers.length === 1, { maxWaitMs: 30_000, what: `the TaskManager registered (${jm.output()} ${tm.output()})` });
    const name = uniqueName('pw');
    const jobId = await submitTinyJob(client, dir, name);

    const q = new InputQueue({ redis: redis.url, stream: name, password: secret });
    try {
      const out = await q.predict(tinyInput(2), { timeoutMs: 60_000 });
      assert.deepEqual(out.get('output')!.shape, [1, 8]);
    } finally {
      await q.close();
    }
    // Without the password the client gets a clear refusal, not a timeout.
    const noPassword = new InputQueue({ redis: redis.url, stream: name, password: undefined, passwordFile: undefined });
    try {
      await assert.rejects(noPassword.enqueue('req-x', tinyInput(3)), (err: Error) => /NOAUTH|WRONGPASS|auth/i.test(err.message) && !err.message.includes(secret));
    } finally {
      await noPassword.close();
    }

    const shown: string[] = [commandLine(jm.child.pid!), commandLine(tm.child.pid!)];
    // `cs predict` with the password from the environment, then from a file.
    const input = join(dir, 'x.json');
    writeFileSync(input, JSON.stringify([Array.from({ length: 16 }, (_, k) => k / 16)]));
    for (const [args, env] of [[[], { CS_REDIS_PASSWORD: secret }], [['--redis-password-file', passwordFile], {}]] as const) {
      const predicted = await runCs(['predict', name, input, '--jobmanager', jmUrl, '--redis', redis.url, ...args], { env });
      assert.equal(predicted.code, 0, predicted.stderr);
      assert.match(predicted.stdout, /^output {2}float32 \[1, 8\]/);
      shown.push(predicted.stdout, predicted.stderr);
    }
    for (const args of [['job', 'status', jobId], ['job', 'list'], ['taskmanager', 'list']]) {
      const r = await runCs([...args, '--jobmanager', jmUrl]);
      assert.equal(r.code, 0, r.stderr);
      shown.push(r.stdout, r.stderr);
    }
    for (const path of ['/jobs', `/jobs/${jobId}`, '/taskmanagers', '/overview']) shown.push(await (await fetch(`${jmUrl}${path}`)).text());
    shown.push(jm.output(), tm.output());
    assert.ok(jm.output().includes('jobmanager.started'), 'the JobManager logged');
    for (const text of shown) assert.ok(!text.includes(secret), `the password shows in:\n${text.slice(0, 2000)}`);
  });

  it('a password put in the --redis URL is shown as *** wherever the URL is printed', async () => {
    const port = await freePort();
    const jm = startLoggedCs(['jobmanager', 'start', '--port', String(port), '--redis', `redis://default:${secret}@127.0.0.1:${redis.port}`, '--cache-dir', join(dir, 'jm-url')], { CS_LOG_LEVEL: 'info' });
    processes.push(jm);
    await waitFor(() => jm.output().includes('JobManager at'), { maxWaitMs: 30_000, what: `the JobManager started (${jm.output()})` });
    await waitFor(() => jm.output().includes('jobmanager.started'), { maxWaitMs: 30_000, what: 'the start logged' });
    assert.match(jm.output(), /redis:\/\/default:\*\*\*@127\.0\.0\.1/);
    assert.ok(!jm.output().includes(secret), jm.output());
  });
});
