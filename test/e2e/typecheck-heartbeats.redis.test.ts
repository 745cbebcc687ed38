import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { freePort } from '../../src/embedded/free-port';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { packageRoot } from '../../src/package-root';
import { lines, runCs, spawnCs } from '../cli/run-cs';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

/** The `msg` of every JSON log line a process printed so far. */
function events(text: string): string[] {
  return text.split('\n').flatMap((line) => {
    try {
      const { msg } = JSON.parse(line) as { msg?: unknown };
      return typeof msg === 'string' ? [msg] : [];
    } catch {
      return [];
    }
  });
}

/**
 * Issue 14: a TypeScript submit once blocked the JobManager's event loop for seconds (the compiler ran
 * on it), and its TaskManager was declared lost. With a 1 s heartbeat timeout, real processes, and a job
 * already running on the TaskManager: while `cs job submit FILE.ts` runs, the TaskManager is never
 * declared lost and its subtask never moves.
 */
describe('a TypeScript submit does not stall the JobManager: TaskManagers with a 1 s heartbeat timeout stay (real processes)', () => {
  const children: ChildProcess[] = [];
  let root: string;
  let redis: string;
  let jm: string;
  let jmLog = '';
  const tmId = uniqueName('tm-hb');

  before(async () => {
    redis = await testRedisUrl();
    await ensureModels(defaultModelsDir(), ['tiny']);
    root = await mkdtemp(join(tmpdir(), 'cs-typecheck-hb-'));
    const port = await freePort();
    jm = `http://127.0.0.1:${port}`;
    const env = { CS_LOG_LEVEL: 'info' };
    const jobManager = spawnCs(
      ['jobmanager', 'start', '--port', String(port), '--redis', redis, '--cache-dir', join(root, 'jm'), '--allow-code-topologies', '--heartbeat-interval-ms', '200', '--heartbeat-timeout-ms', '1000'],
      { env },
    );
    jobManager.stdout?.on('data', (d: Buffer) => (jmLog += d.toString()));
    jobManager.stderr?.on('data', (d: Buffer) => (jmLog += d.toString()));
    children.push(jobManager);
    children.push(spawnCs(['taskmanager', 'start', '--jobmanager', jm, '--redis', redis, '--cache-dir', join(root, 'tm'), '--id', tmId, '--slots', '2', '--allow-code-topologies'], { env }));
    await waitFor(async () => (await new JobManagerClient(jm).listTaskManagers()).taskmanagers.some((t) => t.id === tmId), { maxWaitMs: 60_000, what: 'the TaskManager registered' });
  });

  after(async () => {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
    await rm(root, { recursive: true, force: true });
    await stopTestRedis();
  });

  it('keeps the TaskManager and its subtask in place while the submit type-checks', async () => {
    const client = new JobManagerClient(jm);
    const yamlName = uniqueName('steady');
    const yamlFile = join(root, `${yamlName}.yaml`);
    await writeFile(yamlFile, `name: ${yamlName}\nsource: { type: redis }\nmodel: { path: ${join(defaultModelsDir(), 'tiny.onnx')} }\n`);
    const steady = await runCs(['job', 'submit', yamlFile, '--jobmanager', jm]);
    assert.equal(steady.code, 0, steady.stderr);
    const [steadyId] = lines(steady.stdout);
    await waitFor(async () => (await client.jobStatus(steadyId!)).subtasks[0]?.taskManagerId === tmId, { maxWaitMs: 30_000, what: 'the YAML job on the TaskManager' });

    const tsName = uniqueName('typed');
    // The example TypeScript topology under another name, outside the package, on the same model.
    const tsFile = join(root, `${tsName}.ts`);
    const text = (await readFile(join(packageRoot(), 'topologies', 'tiny-custom.ts'), 'utf8'))
      .replaceAll("'tiny-custom'", `'${tsName}'`)
      .replace(/'\.\.\/models\/tiny\.onnx'/, JSON.stringify(join(defaultModelsDir(), 'tiny.onnx')));
    assert.notEqual(text.indexOf(tsName), -1);
    await writeFile(tsFile, text);
    const logBefore = jmLog.length;
    const submitted = await runCs(['job', 'submit', tsFile, '--jobmanager', jm]);
    assert.equal(submitted.code, 0, submitted.stderr);
    assert.doesNotMatch(submitted.stderr, /no answer in time/);
    assert.match(lines(submitted.stdout)[0] ?? '', /^[0-9a-f]{32}$/);
    const during = events(jmLog.slice(logBefore));
    assert.ok(during.includes('jobmanager.job.submitted'), `the submit is in the JobManager's log: ${during.join(', ')}`);
    assert.equal(during.filter((e) => e === 'jobmanager.taskmanager.lost').length, 0, 'no TaskManager declared lost during the submit');
    assert.equal(during.filter((e) => e === 'jobmanager.taskmanager.registered').length, 0, 'the TaskManager never had to register again');
    assert.equal((await client.jobStatus(steadyId!)).subtasks[0]?.taskManagerId, tmId, 'the YAML job stayed on its TaskManager');
  });
});
