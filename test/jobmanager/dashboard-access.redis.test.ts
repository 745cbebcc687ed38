/**
 * The dashboard on a JobManager that requires a bearer token, in headless Chromium: its files load
 * without the token (they hold no data), every API call needs it, the page asks for it once and keeps it
 * for the tab, a wrong one is refused with a message, and user text (a subtask's failure message made of
 * markup) is shown as text, never run. Skips without Chromium; fails instead with CS_TEST_STRICT=1.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { HeartbeatResponse } from '../../src/cluster-api/dto';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { createLogger } from '../../src/logging/logger';
import { defaultModelsDir, ensureModels } from '../../src/models/generate';
import { startJobManager, type JobManager } from '../../jobmanager/main';
import { launchChromium, pageProblems } from '../support/chromium';
import { TEST_MODEL_DIRS } from '../support/jobmanager';
import { stopTestRedis, testRedisUrl } from '../support/redis';
import { uniqueName, waitFor } from '../support/wait-for';

const TOKEN = `dash-${Math.random().toString(36).slice(2)}-token`;
/** What a TaskManager reports as the failure: markup that would set window.__xss if the page parsed it. */
const MARKUP = '<img src="data:," onerror="window.__xss=1"><b>bold</b>';

let jm: JobManager;
let dir: string;

before(async () => {
  await ensureModels(defaultModelsDir(), ['tiny']);
  dir = await mkdtemp(join(tmpdir(), 'cs-dash-access-'));
  jm = await startJobManager({
    redisUrl: await testRedisUrl(),
    host: '127.0.0.1',
    port: 0,
    cacheDir: dir,
    token: TOKEN,
    heartbeatIntervalMs: 100,
    heartbeatTimeoutMs: 5000,
    modelDirs: TEST_MODEL_DIRS,
    logger: createLogger('jobmanager', process.env.CS_TEST_LOG_LEVEL ?? 'silent'),
  });
});

after(async () => {
  await jm?.close();
  await stopTestRedis();
  await rm(dir, { recursive: true, force: true });
});

/** One REST call with the token, as a TaskManager makes it. */
async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${jm.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(response.ok, `${method} ${path}: ${response.status}`);
  const text = await response.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

test('the dashboard loads without the token, asks for it, and shows user text as text', async (t) => {
  const open = async (path: string): Promise<number> => (await fetch(`${jm.url}${path}`)).status;
  assert.equal(await open('/'), 200, 'the page loads without the token');
  assert.equal(await open('/dashboard/main.js'), 200, 'its script too');
  assert.equal(await open('/dashboard/uplot.esm.js'), 200, 'and uPlot');
  assert.equal(await open('/overview'), 401, 'the API does not');
  assert.equal(await open('/dashboard/missing.js'), 401, 'nor any other path');

  const browser = await launchChromium(t);
  if (!browser) return;
  const client = new JobManagerClient(jm.url, { token: TOKEN });
  const name = uniqueName('dash-failing');
  const tmId = uniqueName('tm-dash');
  try {
    // A job whose subtask fails with markup as its message, reported by a TaskManager over REST.
    const model = join(defaultModelsDir(), 'tiny.onnx');
    const source = `name: ${name}\nsource: { type: redis }\nmodel: { path: ${model} }\nparallelism: 1\n`;
    const { jobId } = await client.submitJob({ filename: `${name}.yaml`, source, baseDir: dir });
    await call('POST', '/taskmanagers', { id: tmId, host: 'test-host', slots: 1 });
    await waitFor(async () => (await call<HeartbeatResponse>('POST', `/taskmanagers/${tmId}/heartbeat`, { running: [] })).assignments.some((a) => a.jobId === jobId), { maxWaitMs: 30_000, what: 'the job assigned' });
    await call('POST', `/taskmanagers/${tmId}/heartbeat`, { running: [{ jobId, subtaskIndex: 0, failure: MARKUP }] });
    await waitFor(async () => (await client.jobStatus(jobId)).state === 'FAILED', { maxWaitMs: 30_000, what: 'the job failed' });

    const page = await browser.newPage();
    const problems = pageProblems(page);
    await page.goto(`${jm.url}/`);
    await page.locator('#token-form').waitFor({ state: 'visible', timeout: 30_000 });
    assert.equal(await page.locator('#main').isHidden(), true, 'nothing shown before the token');

    await page.locator('#token-input').fill('not-the-token');
    await page.locator('#token-form button').click();
    await page.locator('#token-message').getByText('refused').waitFor({ timeout: 30_000 });

    await page.locator('#token-input').fill(TOKEN);
    await page.locator('#token-form button').click();
    const row = page.locator('#jobs-table tr', { hasText: name });
    await row.waitFor({ timeout: 30_000 });
    await row.getByText('FAILED').waitFor({ timeout: 30_000 });
    await row.locator('.reason-cell').getByText(MARKUP, { exact: false }).waitFor({ timeout: 30_000 });
    await page.locator('#job-reason').getByText(MARKUP, { exact: false }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#cluster-summary').getByText('token', { exact: true }).count(), 1, 'the access mode is shown');
    assert.equal(await page.locator('main img, main b').count(), 0, 'the markup was not parsed');
    assert.equal(await page.evaluate(() => (globalThis as { __xss?: number }).__xss), undefined, 'nor run');

    // Kept for the tab: a reload asks no more.
    await page.reload();
    await row.waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#token-form').isHidden(), true);
    // The refused calls before the token are the only errors the page may log.
    assert.deepEqual(problems.filter((p) => !/status of 401/.test(p)), []);
  } finally {
    await browser.close();
    await call('DELETE', `/taskmanagers/${tmId}`).catch(() => undefined);
  }
});
