import { readdirSync, readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { packageRoot } from '../../src/package-root';

/** The dashboard's own files (HTML, CSS, JS), shipped with the package (package.json "files": jobmanager). */
export const DASHBOARD_DIR = join(packageRoot(), 'jobmanager', 'dashboard');

/** One file the dashboard is made of: where it is read from and the type it is served with. */
interface Asset {
  readonly file: string;
  readonly contentType: string;
}

/** uPlot's browser build, resolved like any dependency so it is found in the repository and in an installed package. */
function uplotFile(name: string): string {
  return join(dirname(require.resolve('uplot/package.json')), 'dist', name);
}

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/**
 * Every path the dashboard serves, and nothing else: `/` (index.html), `/dashboard/<file>` for each
 * script and style sheet of {@link DASHBOARD_DIR}, and uPlot's ES module and styles. A request path is
 * only ever looked up in this table, never joined onto a folder, so no request can read another file.
 * A handful of files listed once at start is why this is not @fastify/static (another dependency, and
 * a folder served by pattern).
 */
function dashboardAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  assets.set('/', { file: join(DASHBOARD_DIR, 'index.html'), contentType: CONTENT_TYPES['.html']! });
  for (const name of readdirSync(DASHBOARD_DIR).sort()) {
    const contentType = CONTENT_TYPES[extname(name)];
    if (contentType && name !== 'index.html') assets.set(`/dashboard/${name}`, { file: join(DASHBOARD_DIR, name), contentType });
  }
  assets.set('/dashboard/uplot.esm.js', { file: uplotFile('uPlot.esm.js'), contentType: CONTENT_TYPES['.js']! });
  assets.set('/dashboard/uplot.min.css', { file: uplotFile('uPlot.min.css'), contentType: CONTENT_TYPES['.css']! });
  return assets;
}

let assets: Map<string, Asset> | undefined;

function knownAssets(): Map<string, Asset> {
  return (assets ??= dashboardAssets());
}

/**
 * The page may load only what the JobManager itself serves and call only its API: no inline script, no
 * other origin (so it works without network access beyond the JobManager, and injected markup could not run).
 * uPlot sets element styles from script (allowed); it writes no inline `<style>`.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Whether a request path (query string ignored) is one of the dashboard's files. They hold no data, so
 * they load without the bearer token; the page asks for the token and sends it with every API call.
 */
export function isDashboardPath(url: string): boolean {
  const path = url.split(/[?#]/, 1)[0] ?? url;
  return knownAssets().has(path);
}

/**
 * The web dashboard: `GET /` (the page) and `GET /dashboard/*` (its script, styles and uPlot). The page
 * polls the REST API (`/overview`, `/jobs`, `/jobs/:id`, `/jobs/:id/checkpoints`, `/jobs/:id/metrics`,
 * `/taskmanagers`) and calls its cancel and rescale routes. The files are read once, here, so a package
 * missing one fails at start rather than at the first visit.
 */
export function registerDashboardRoutes(app: FastifyInstance): void {
  for (const [path, asset] of knownAssets()) {
    const body = readFileSync(asset.file);
    const html = asset.contentType.startsWith('text/html');
    app.get(path, async (_request, reply) => {
      void reply
        .header('content-type', asset.contentType)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer');
      if (html) void reply.header('content-security-policy', CONTENT_SECURITY_POLICY).header('x-frame-options', 'DENY');
      return reply.send(body);
    });
  }
}
