/**
 * The dashboard's files as the JobManager serves them (fastify's inject, no Redis): the page, every
 * module and style sheet it references (so a new file is never left unserved), uPlot from node_modules,
 * the security headers, nothing outside the table; and the package ships the folder.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fastify, { type FastifyInstance } from 'fastify';
import { packageRoot } from '../../src/package-root';
import { DASHBOARD_DIR, isDashboardPath, registerDashboardRoutes } from '../../jobmanager/rest/dashboard';

describe('dashboard files', () => {
  let app: FastifyInstance;

  before(async () => {
    app = fastify();
    registerDashboardRoutes(app);
    await app.ready();
  });

  after(() => app.close());

  const get = (url: string) => app.inject({ method: 'GET', url });

  it('serves the page with a same-origin-only content security policy', async () => {
    const page = await get('/');
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.match(csp, /connect-src 'self'(;|$)/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
  });

  it('serves everything the page and its modules reference, uPlot included', async () => {
    const refs = new Set<string>();
    const html = (await get('/')).body;
    for (const m of html.matchAll(/(?:src|href)="(dashboard\/[^"]+)"/g)) refs.add(`/${m[1]}`);
    for (const file of readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.js'))) {
      for (const m of readFileSync(join(DASHBOARD_DIR, file), 'utf8').matchAll(/from '\.\/([^']+)'/g)) refs.add(`/dashboard/${m[1]}`);
    }
    assert.ok(refs.has('/dashboard/main.js') && refs.has('/dashboard/uplot.esm.js') && refs.has('/dashboard/uplot.min.css'), [...refs].join(' '));
    for (const ref of refs) {
      const res = await get(ref);
      assert.equal(res.statusCode, 200, ref);
      assert.match(String(res.headers['content-type']), ref.endsWith('.css') ? /^text\/css/ : /^text\/javascript/, ref);
      assert.ok(isDashboardPath(ref), `${ref} loads without the token`);
    }
    assert.match((await get('/dashboard/uplot.esm.js')).body, /export \{ uPlot as default \}/);
  });

  it('serves nothing beyond its table, and no API path is a dashboard path', async () => {
    for (const url of ['/dashboard/../package.json', '/dashboard/%2e%2e/package.json', '/dashboard/', '/dashboard/index.html', '/index.html']) {
      assert.equal((await get(url)).statusCode, 404, url);
    }
    for (const url of ['/overview', '/jobs', '/taskmanagers', '/metrics', '/dashboard', '/dashboard/x.js']) assert.equal(isDashboardPath(url), false, url);
    assert.equal(isDashboardPath('/?x=1'), true);
  });

  it('ships with the package (package.json "files")', () => {
    const pkg = JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { files: string[]; dependencies: Record<string, string> };
    assert.ok(pkg.files.includes('jobmanager'), 'jobmanager/ (with dashboard/) is in "files"');
    assert.equal(DASHBOARD_DIR, join(packageRoot(), 'jobmanager', 'dashboard'));
    assert.ok(pkg.dependencies.uplot, 'uplot is a runtime dependency');
  });
});
