/**
 * The dashboard in a real browser (Debian's headless Chromium driven by playwright-core) against a real
 * cluster: a JobManager and a TaskManager process on a real redis-server, the tiny example job, load from
 * the TypeScript client. The page must show the job's throughput above zero, rescale it with its button
 * (checked through the REST API) and cancel it. Screenshots go to CS_TEST_OUTPUT_DIR (else a temp folder;
 * the path is printed). Skips without Chromium; fails instead with CS_TEST_STRICT=1.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Page } from 'playwright-core';
import { InputQueue } from '../../src/client/input-queue';
import { packageRoot } from '../../src/package-root';
import { launchChromium, pageProblems, testOutputDir } from '../support/chromium';
import { uniqueName, waitFor } from '../support/wait-for';
import { tinyInput, useE2eCluster } from './e2e-helpers';

const ctx = useE2eCluster('dashboard');

/** The example tiny.yaml under a unique job and stream name, submitted from topologies/ as the CLI would. */
function tinyExample(name: string): { filename: string; source: string; baseDir: string } {
  const dir = join(packageRoot(), 'topologies');
  const text = readFileSync(join(dir, 'tiny.yaml'), 'utf8').replace(/^name: tiny$/m, `name: ${name}`).replace(/^ {2}stream: tiny$/m, `  stream: ${name}`);
  assert.match(text, new RegExp(`stream: ${name}`));
  return { filename: `${name}.yaml`, source: text, baseDir: dir };
}

/** Keeps `inFlight` predict calls going until `stop()`: the TypeScript client as an application uses it. */
function startLoad(queue: InputQueue, inFlight: number): { stop(): Promise<void>; answered(): number; failures: string[] } {
  let stopped = false;
  let answered = 0;
  const failures: string[] = [];
  const worker = async (w: number): Promise<void> => {
    for (let i = w; !stopped; i += inFlight) {
      try {
        await queue.predict(tinyInput(i), { timeoutMs: 30_000 });
        answered++;
      } catch (err) {
        failures.push(String(err));
        await new Promise((r) => setTimeout(r, 100)); // back off after a failure, not a synchronisation
      }
    }
  };
  const workers = Array.from({ length: inFlight }, (_, w) => worker(w));
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(workers);
    },
    answered: () => answered,
    failures,
  };
}

/**
 * Samples the page charts before its first screenshot: enough for lines, not dots (the JobManager
 * samples once a second). CS_TEST_DASHBOARD_POINTS raises it for a fuller picture (docs/dashboard.png).
 */
const POINTS_BEFORE_SCREENSHOT = Number(process.env.CS_TEST_DASHBOARD_POINTS ?? 8);

/** The figure the page shows for the selected job's newest throughput point (results/s), or NaN. */
async function shownThroughput(page: Page): Promise<number> {
  const value = await page.locator('#figure-throughput').getAttribute('data-value', { timeout: 1000 }).catch(() => null);
  return value === null || value === '' ? NaN : Number(value);
}

/** How many metric points the page holds for its charts. */
async function shownPoints(page: Page): Promise<number> {
  return Number((await page.locator('#figure-throughput').getAttribute('data-points', { timeout: 1000 }).catch(() => null)) ?? 0);
}

test('the dashboard shows a running job with live throughput, rescales it and cancels it', async (t) => {
  const browser = await launchChromium(t);
  if (!browser) return;
  const outDir = testOutputDir('cs-dashboard');
  const name = uniqueName('dash-tiny');
  const queue = new InputQueue({ redis: ctx.redis, stream: name });
  let load: ReturnType<typeof startLoad> | undefined;
  let opened: Page | undefined;
  try {
    await ctx.cluster.startTaskManager('tm-dash', 2);
    const { jobId } = await ctx.cluster.client.submitJob(tinyExample(name));
    await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).subtasks.every((s) => s.taskManagerId !== null), { maxWaitMs: 30_000, what: 'the job placed' });
    load = startLoad(queue, 8);
    await waitFor(() => load!.answered() > 0, { maxWaitMs: 60_000, what: 'a first answer to the load' });

    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    opened = page;
    const problems = pageProblems(page);
    await page.goto(`${ctx.cluster.url}/`);
    await page.locator('#jobs-table').getByText(name).waitFor({ timeout: 30_000 });
    await page.locator('#tm-table').getByText('tm-dash').waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#job-title').textContent(), name, 'the active job is selected');

    const rate = await waitFor(async () => {
      const r = await shownThroughput(page);
      return r > 0 ? r : undefined;
    }, { maxWaitMs: 60_000, intervalMs: 250, what: 'the page to show a throughput above zero' });
    await waitFor(async () => (await page.locator('#chart-throughput canvas').count()) > 0, { maxWaitMs: 10_000, what: 'the throughput chart drawn' });
    await waitFor(async () => (await shownPoints(page)) >= POINTS_BEFORE_SCREENSHOT && (await shownThroughput(page)) > 0, {
      maxWaitMs: 60_000 + POINTS_BEFORE_SCREENSHOT * 2000,
      intervalMs: 250,
      what: `${POINTS_BEFORE_SCREENSHOT} samples on the charts, the newest above zero`,
    });
    const running = join(outDir, 'dashboard-running.png');
    await page.screenshot({ path: running, fullPage: true });
    console.log(`dashboard: ${rate} results/s shown; screenshot ${running}`);

    await page.locator('#rescale-input').fill('2');
    await page.locator('#rescale-button').click();
    await waitFor(async () => {
      const s = await ctx.cluster.client.jobStatus(jobId);
      return s.parallelism === 2 && s.subtasks.length === 2 && s.subtasks.every((st) => st.taskManagerId !== null);
    }, { maxWaitMs: 30_000, what: 'the job rescaled to 2 through the page (REST)' });
    await page.locator('#subtasks-table tbody tr').nth(1).waitFor({ timeout: 30_000 });
    await waitFor(async () => (await page.locator('#action-message').textContent())?.includes('parallelism 2'), { maxWaitMs: 10_000, what: 'the page to report the rescale' });
    // Still serving after the rescale: the page reads a throughput above zero again.
    const before = load.answered();
    await waitFor(() => load!.answered() > before + 50, { maxWaitMs: 60_000, what: 'answers after the rescale' });
    await waitFor(async () => (await shownThroughput(page)) > 0, { maxWaitMs: 60_000, intervalMs: 250, what: 'throughput above zero after the rescale' });
    const rescaled = join(outDir, 'dashboard-rescaled.png');
    await page.screenshot({ path: rescaled, fullPage: true });
    console.log(`dashboard: rescaled to 2 from the page; screenshot ${rescaled}`);

    await load.stop();
    load = undefined;
    page.once('dialog', (dialog) => void dialog.accept());
    await page.locator('#cancel-button').click();
    await waitFor(async () => (await ctx.cluster.client.jobStatus(jobId)).state === 'CANCELED', { maxWaitMs: 30_000, what: 'the job canceled through the page (REST)' });
    await page.locator('#job-state').getByText('CANCELED').waitFor({ timeout: 30_000 });
    assert.deepEqual(problems, [], 'the page reported no errors');
  } catch (err) {
    const shot = join(outDir, 'dashboard-failed.png');
    if (opened) await opened.screenshot({ path: shot, fullPage: true }).then(() => console.log(`dashboard: the page when the test failed: ${shot}`), () => undefined);
    throw err;
  } finally {
    await load?.stop();
    await queue.close();
    await browser.close();
  }
});
