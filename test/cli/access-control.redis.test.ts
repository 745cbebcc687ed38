import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { freePort } from '../../src/embedded/free-port';
import { ensureModels } from '../../src/models/generate';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { selfSignedCertificate, type TestCertificate } from '../support/tls-cert';
import { uniqueName, waitFor } from '../support/wait-for';
import { hasStackTrace, lines, runCs, spawnCs } from './run-cs';

/** A `cs` process left running, with its output so far. */
interface Running {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

function track(child: ChildProcess): Running {
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, output: () => text };
}

describe('cs with a token and TLS (real processes: cs jobmanager start on 0.0.0.0, cs taskmanager start, cs job, cs predict)', () => {
  const token = randomBytes(24).toString('base64url');
  let dir: string;
  let redisUrl: string;
  let cert: TestCertificate;
  let tokenFile: string;
  const running: Running[] = [];

  before(async () => {
    redisUrl = await testRedisUrl();
    dir = await mkdtemp(join(tmpdir(), 'cs-cli-access-'));
    cert = await selfSignedCertificate(dir);
    tokenFile = join(dir, 'token');
    await writeFile(tokenFile, `${token}\n`, { mode: 0o600 });
  });

  after(async () => {
    for (const p of running) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(running.map((p) => p.exited));
    await rm(dir, { recursive: true, force: true });
    await stopTestRedis();
  });

  function start(args: string[], env: Record<string, string>): Running {
    const p = track(spawnCs(args, { env }));
    running.push(p);
    return p;
  }

  it('cs jobmanager start --host 0.0.0.0 without a token or --insecure exits non-zero with one line', async () => {
    const result = await runCs(['jobmanager', 'start', '--host', '0.0.0.0', '--port', String(await freePort()), '--redis', redisUrl, '--cache-dir', join(dir, 'jm-refused')]);
    assert.notEqual(result.code, 0);
    assert.equal(result.stdout, '');
    const errors = lines(result.stderr);
    assert.equal(errors.length, 1, result.stderr);
    assert.match(errors[0]!, /^error: the JobManager would listen on 0\.0\.0\.0, beyond this machine, with no token: .*--token-file.*--insecure.*\(CS_ERR_CONFIG\)$/);
    assert.equal(hasStackTrace(result.stderr), false);
  });

  it('a token given as a flag never shows in an error: an invalid one is "(hidden)"', async () => {
    const secret = `se cret-${randomBytes(8).toString('hex')}`;
    const result = await runCs(['job', 'list', '--jobmanager', 'http://127.0.0.1:1', '--token', secret]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /--token \(hidden\): must be printable ASCII without spaces/);
    assert.equal(result.stderr.includes(secret.slice(3)), false);
  });

  it('cs jobmanager start --host 0.0.0.0 --insecure starts, warns on stderr, and /overview says insecure', async () => {
    const port = await freePort();
    const jm = start(['jobmanager', 'start', '--host', '0.0.0.0', '--port', String(port), '--redis', redisUrl, '--cache-dir', join(dir, 'jm-insecure')], { CS_INSECURE: '1' });
    const url = `http://127.0.0.1:${port}`;
    await waitFor(() => new JobManagerClient(url).listJobs().then(() => true), { maxWaitMs: 30_000, what: `insecure JobManager at ${url}` });
    const overview = (await fetch(`${url}/overview`).then((r) => r.json())) as { access: string };
    assert.equal(overview.access, 'insecure');
    await waitFor(() => /warning: --insecure: no token on 0\.0\.0\.0/.test(jm.output()), { maxWaitMs: 30_000, what: 'the --insecure warning' });
    jm.child.kill('SIGTERM');
    assert.equal(await jm.exited, 0);
  });

  it('over https with a token: a TaskManager (token in env, --ca) and cs job submit (token file) work end to end; without the token or the CA, one clear line', async () => {
    const port = await freePort();
    const url = `https://127.0.0.1:${port}`;
    const jm = start(
      ['jobmanager', 'start', '--host', '0.0.0.0', '--port', String(port), '--redis', redisUrl, '--cache-dir', join(dir, 'jm'), '--tls-cert', cert.certFile, '--tls-key', cert.keyFile],
      { CS_TOKEN_FILE: tokenFile, CS_HEARTBEAT_INTERVAL_MS: '200', CS_HEARTBEAT_TIMEOUT_MS: '5000', CS_LOG_LEVEL: 'debug' },
    );
    const client = new JobManagerClient(url, { token, ca: cert.cert });
    await waitFor(() => client.listJobs().then(() => true), { maxWaitMs: 30_000, what: `JobManager at ${url}: ${jm.output()}` });

    // A TaskManager without the token is refused at once (exit, one line); with it, it registers.
    const refused = await runCs(['taskmanager', 'start', '--jobmanager', url, '--redis', redisUrl, '--cache-dir', join(dir, 'tm-refused')], { env: { CS_CA_FILE: cert.certFile } });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /^error: this JobManager requires a bearer token .*\(CS_ERR_UNAUTHENTICATED\)$/m);
    assert.equal(hasStackTrace(refused.stderr), false);
    const tmId = uniqueName('tm-auth');
    const tm = start(['taskmanager', 'start', '--jobmanager', url, '--redis', redisUrl, '--cache-dir', join(dir, 'tm'), '--id', tmId, '--ca', cert.certFile], { CS_TOKEN: token, CS_LOG_LEVEL: 'debug' });
    await waitFor(async () => (await client.listTaskManagers()).taskmanagers.some((t) => t.id === tmId), { maxWaitMs: 30_000, what: `TaskManager ${tmId} registered` });

    // The CLI: without --ca a certificate error; without the token CS_ERR_UNAUTHENTICATED; with both it works.
    const noCa = await runCs(['job', 'list', '--jobmanager', url], { env: { CS_TOKEN_FILE: tokenFile } });
    assert.notEqual(noCa.code, 0);
    assert.equal(lines(noCa.stderr).length, 1, noCa.stderr);
    assert.match(noCa.stderr, /^error: cannot verify the TLS certificate of the JobManager at https:\/\/127\.0\.0\.1:\d+ \(self[- ]signed certificate\): give the CA that signed it with --ca FILE \(CS_CA_FILE\) \(CS_ERR_CONNECTOR\)$/m);
    const models = await ensureModels(join(dir, 'models'), ['tiny']);
    const name = uniqueName('cli-auth');
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, `name: ${name}\nsource:\n  type: redis\nmodel:\n  path: ${models.tiny}\n`);
    const noToken = await runCs(['job', 'submit', file, '--jobmanager', url, '--ca', cert.certFile]);
    assert.notEqual(noToken.code, 0);
    assert.equal(lines(noToken.stderr).length, 1, noToken.stderr);
    assert.match(noToken.stderr, /^error: this JobManager requires a bearer token .*--token-file FILE \(CS_TOKEN_FILE\).*\(CS_ERR_UNAUTHENTICATED\)$/m);
    const wrong = await runCs(['job', 'submit', file, '--jobmanager', url, '--ca', cert.certFile], { env: { CS_TOKEN: `${token}x` } });
    assert.match(wrong.stderr, /^error: the bearer token is not the one this JobManager requires \(CS_ERR_UNAUTHENTICATED\)$/m);
    assert.equal((await client.listJobs()).jobs.some((j) => j.name === name), false, 'refused submits created no job');

    const env = { CS_JOBMANAGER_URL: url, CS_TOKEN_FILE: tokenFile, CS_CA_FILE: cert.certFile, CS_REDIS_URL: redisUrl, CS_CACHE_DIR: join(dir, 'cli-cache') };
    const submitted = await runCs(['job', 'submit', file], { env });
    assert.equal(submitted.code, 0, submitted.stderr);
    const jobId = submitted.stdout.trim();
    await waitFor(async () => (await client.jobStatus(jobId)).state === 'RUNNING', { maxWaitMs: 60_000, what: `job ${jobId} RUNNING` });
    const listed = await runCs(['taskmanager', 'list'], { env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.ok(lines(listed.stdout).some((l) => l.startsWith(tmId) && l.includes(`${name}/0`)), listed.stdout);

    const input = join(dir, 'x.json');
    await writeFile(input, JSON.stringify(Array.from({ length: 16 }, (_, i) => Math.cos(i))));
    const predicted = await runCs(['predict', name, input, '--json'], { env });
    assert.equal(predicted.code, 0, predicted.stderr);
    const outputs = (JSON.parse(predicted.stdout) as { outputs: Record<string, { shape: number[] }> }).outputs;
    assert.deepEqual(outputs.output?.shape, [1, 8]);

    const canceled = await runCs(['job', 'cancel', jobId], { env });
    assert.equal(canceled.code, 0, canceled.stderr);
    assert.equal(canceled.stdout, `job ${jobId} CANCELED\n`);
    assert.equal(jm.output().includes(token), false, 'the JobManager never logs the token');
    assert.ok(tm.output().includes('taskmanager.registered'), 'the TaskManager logs at debug');
    assert.equal(tm.output().includes(token), false, 'the TaskManager never logs the token');
  });

  it('cs start with a token file and TLS: its TaskManager and job run over https with the token; the REST API refuses a caller without it', async () => {
    const models = await ensureModels(join(dir, 'models'), ['tiny']);
    const name = uniqueName('start-auth');
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, `name: ${name}\nsource:\n  type: redis\nmodel:\n  path: ${models.tiny}\n`);
    const cs = start(
      ['start', file, '--port', '0', '--redis', redisUrl, '--cache-dir', join(dir, 'start-cache'), '--tls-cert', cert.certFile, '--tls-key', cert.keyFile],
      { CS_TOKEN_FILE: tokenFile, CS_HEARTBEAT_INTERVAL_MS: '200', CS_HEARTBEAT_TIMEOUT_MS: '5000' },
    );
    await waitFor(() => cs.output().includes('ready;') || cs.child.exitCode !== null, { maxWaitMs: 60_000, what: 'cs start to be running' });
    assert.equal(cs.child.exitCode, null, cs.output());
    const restUrl = /^REST\s+(https:\/\/\S+)$/m.exec(cs.output())?.[1];
    assert.ok(restUrl, cs.output());
    const jobId = /^job\s+([0-9a-f]{32})\b/m.exec(cs.output())?.[1];
    assert.ok(jobId, cs.output());
    const status = await new JobManagerClient(restUrl, { token, ca: cert.cert }).jobStatus(jobId);
    assert.equal(status.state, 'RUNNING');
    assert.ok(status.subtasks[0]?.taskManagerId, 'the in-process TaskManager registered over https with the token');
    await assert.rejects(new JobManagerClient(restUrl, { ca: cert.cert }).jobStatus(jobId), /requires a bearer token/);
    cs.child.kill('SIGINT');
    assert.equal(await cs.exited, 0, cs.output());
  });
});
