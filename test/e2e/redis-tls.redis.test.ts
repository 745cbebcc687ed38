import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputQueue } from '../../src/client/input-queue';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { ClusterServingError } from '../../src/errors';
import { freePort } from '../../src/embedded/free-port';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { hasStackTrace, lines, runCs } from '../cli/run-cs';
import { startLoggedCs, submitTinyJob, type LoggedCs } from '../support/logged-cs';
import { PersistentRedis } from '../support/persistent-redis';
import { makeTestCertificates, type TestCertificates } from '../support/tls-certs';
import { uniqueName, waitFor } from '../support/wait-for';
import { tinyInput } from './e2e-helpers';

/** A predict's failure, or a failed assertion when it succeeds. */
async function predictFailure(q: InputQueue): Promise<ClusterServingError> {
  try {
    await q.predict(tinyInput(0), { timeoutMs: 120_000 });
  } catch (err) {
    assert.ok(err instanceof ClusterServingError, String(err));
    return err;
  }
  assert.fail('the request should have failed');
}

describe('TLS to Redis (rediss://, --redis-ca, client certificates)', () => {
  let certs: TestCertificates;
  let redis: PersistentRedis;
  let mutual: PersistentRedis;
  let dir: string;
  const processes: LoggedCs[] = [];

  before(async () => {
    await ensureModels(defaultModelsDir(), ['tiny']);
    certs = makeTestCertificates();
    dir = mkdtempSync(join(tmpdir(), 'cs-redis-tls-'));
    redis = await PersistentRedis.start({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert } });
    mutual = await PersistentRedis.start({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.caCert, authClients: true } });
  });

  after(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    await redis?.stop();
    await mutual?.stop();
  });

  it('a JobManager, a TaskManager and the TypeScript client all talk to Redis over TLS only', async () => {
    const port = await freePort();
    const jmUrl = `http://127.0.0.1:${port}`;
    const jm = startLoggedCs(['jobmanager', 'start', '--port', String(port), '--redis', redis.tlsUrl, '--redis-ca', certs.caCert, '--cache-dir', join(dir, 'jm')]);
    // The TaskManager takes its CA from the environment.
    const tm = startLoggedCs(['taskmanager', 'start', '--jobmanager', jmUrl, '--redis', redis.tlsUrl, '--id', 'tm-tls', '--cache-dir', join(dir, 'tm')], { CS_REDIS_CA: certs.caCert });
    processes.push(jm, tm);
    const client = new JobManagerClient(jmUrl);
    await waitFor(async () => (await client.listTaskManagers()).taskmanagers.length === 1, { maxWaitMs: 30_000, what: `the TaskManager registered (${jm.output()} ${tm.output()})` });
    const name = uniqueName('tls');
    await submitTinyJob(client, dir, name);
    const q = new InputQueue({ redis: redis.tlsUrl, stream: name, caFile: certs.caCert });
    try {
      const out = await q.predict(tinyInput(1), { timeoutMs: 60_000 });
      assert.deepEqual(out.get('output')!.shape, [1, 8]);
    } finally {
      await q.close();
    }
    // `cs predict` takes the same flags.
    const input = join(dir, 'x.json');
    writeFileSync(input, JSON.stringify([Array.from({ length: 16 }, (_, k) => k / 16)]));
    const predicted = await runCs(['predict', name, input, '--jobmanager', jmUrl, '--redis', redis.tlsUrl, '--redis-ca', certs.caCert, '--json']);
    assert.equal(predicted.code, 0, predicted.stderr);
    assert.deepEqual((JSON.parse(predicted.stdout) as { outputs: { output: { shape: number[] } } }).outputs.output.shape, [1, 8]);
    assert.equal(jm.child.exitCode, null, jm.output());
    assert.equal(tm.child.exitCode, null, tm.output());
  });

  it('a server certificate the client does not trust fails the request at once with a clear error, not a timeout', async () => {
    for (const caFile of [undefined, certs.otherCaCert]) {
      const q = new InputQueue({ redis: redis.tlsUrl, stream: uniqueName('tls-untrusted'), caFile });
      try {
        const err = await predictFailure(q);
        assert.equal(err.code, 'CS_ERR_CONNECTOR', err.message);
        assert.equal(err.retriable, false);
        assert.match(err.message, /TLS to Redis at rediss:\/\/127\.0\.0\.1:\d+ failed: .*--redis-ca/);
      } finally {
        await q.close();
      }
    }
  });

  it('a JobManager that cannot verify the Redis certificate stops with one line that says so', async () => {
    const jm = startLoggedCs(['jobmanager', 'start', '--port', '0', '--redis', redis.tlsUrl, '--redis-ca', certs.otherCaCert, '--cache-dir', join(dir, 'jm-bad')], { CS_LOG_LEVEL: 'silent' });
    processes.push(jm);
    const code = await jm.exited;
    assert.notEqual(code, 0);
    const text = jm.output();
    assert.equal(lines(text.trim()).length, 1, text);
    assert.match(text, /TLS to Redis .* failed/);
    assert.ok(!hasStackTrace(text), text);
  });

  it('--redis-ca with a redis:// URL is refused as a mistake, in one line', async () => {
    const jm = startLoggedCs(['jobmanager', 'start', '--port', '0', '--redis', redis.url, '--redis-ca', certs.caCert], { CS_LOG_LEVEL: 'silent' });
    processes.push(jm);
    assert.notEqual(await jm.exited, 0);
    assert.match(jm.output(), /--redis-ca need a rediss:\/\/ URL/);
    assert.ok(!hasStackTrace(jm.output()), jm.output());
  });

  it('a Redis that asks for client certificates takes the client certificate and key, and refuses a client without one', async () => {
    const name = uniqueName('mtls');
    const withCert = new InputQueue({ redis: mutual.tlsUrl, stream: name, caFile: certs.caCert, certFile: certs.clientCert, keyFile: certs.clientKey });
    try {
      assert.match(await withCert.enqueue('req-1', tinyInput(1)), /^\d+-\d+$/);
    } finally {
      await withCert.close();
    }
    const without = new InputQueue({ redis: mutual.tlsUrl, stream: name, caFile: certs.caCert });
    try {
      const err = await predictFailure(without);
      assert.notEqual(err.code, 'CS_ERR_TIMEOUT', err.message);
      assert.match(err.message, /Redis/);
    } finally {
      await without.close();
    }
  });
});
