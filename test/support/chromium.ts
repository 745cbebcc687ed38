import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`), or CS_TEST_CHROMIUM. playwright-core downloads no browser. */
export const CHROMIUM_PATH = process.env.CS_TEST_CHROMIUM ?? '/usr/bin/chromium';

/** Headless, no sandbox (tests run as root), nothing that reaches outside the machine. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

/**
 * Starts headless Chromium, or skips the test when it is not installed — fails instead with
 * CS_TEST_STRICT=1 (CI, where .ci/run installs it).
 */
export async function launchChromium(t: TestContext): Promise<Browser | undefined> {
  if (!existsSync(CHROMIUM_PATH)) {
    const reason = `${CHROMIUM_PATH} is missing (apt-get install chromium, or set CS_TEST_CHROMIUM)`;
    if (process.env.CS_TEST_STRICT === '1') assert.fail(`missing prerequisite (CS_TEST_STRICT=1): ${reason}`);
    t.skip(reason);
    return undefined;
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
}

/** Where a test writes its screenshots: CS_TEST_OUTPUT_DIR (created), else a new temp folder. */
export function testOutputDir(prefix: string): string {
  const configured = process.env.CS_TEST_OUTPUT_DIR;
  if (configured) {
    mkdirSync(configured, { recursive: true });
    return configured;
  }
  return mkdtempSync(join(tmpdir(), `${prefix}-`));
}

/** Collects what a page reports as broken: uncaught exceptions and console errors (CSP refusals, failed loads). */
export function pageProblems(page: Page): string[] {
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console error: ${msg.text()}${msg.location().url ? ` (${msg.location().url})` : ''}`);
  });
  return problems;
}
