import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthReport } from '../src/cluster-api/dto';
import { ClusterServingError } from '../src/errors';
import type { Logger } from '../src/logging/logger';

/** What a {@link MetricsServer} serves. */
export interface MetricsServerOptions {
  readonly host: string;
  /** 0 picks a free one. */
  readonly port: number;
  /** The Prometheus text and its content type. */
  readonly metrics: () => Promise<{ text: string; contentType: string }>;
  /** `/readyz`. */
  readonly readiness: () => HealthReport;
  readonly logger: Logger;
}

/**
 * A TaskManager's small HTTP server: `GET /metrics` (Prometheus text), `/healthz` (the process answers:
 * always 200) and `/readyz` (200 when ready, else 503 with the reasons as JSON). Plain node:http: three
 * read-only routes, no body parsing, nothing a framework would add.
 */
export class MetricsServer {
  private server: Server | undefined;
  private address: AddressInfo | undefined;

  constructor(private readonly options: MetricsServerOptions) {}

  /** Listens; resolves with the port it got. */
  async start(): Promise<number> {
    const server = (this.server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
        return;
      }
      const json = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(body));
      };
      if (path === '/healthz') return json(200, { ok: true, reasons: [] } satisfies HealthReport);
      if (path === '/readyz') {
        const report = this.options.readiness();
        return json(report.ok ? 200 : 503, report);
      }
      if (path === '/metrics') {
        this.options.metrics().then(
          ({ text, contentType }) => res.writeHead(200, { 'content-type': contentType }).end(text),
          (err: unknown) => {
            this.options.logger.warn({ err }, 'taskmanager.metrics.failed');
            json(500, { code: 'CS_ERR_INTERNAL', message: 'the metrics could not be collected' });
          },
        );
        return;
      }
      json(404, { code: 'CS_ERR_NOT_FOUND', message: `${path} not found (try /metrics, /healthz or /readyz)` });
    }));
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port, this.options.host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((err: unknown) => {
      const code = (err as { code?: string }).code;
      const reason = code === 'EADDRINUSE' ? 'the port is in use (choose another with --metrics-port / CS_METRICS_PORT, or 0 for any free one)' : code === 'EADDRNOTAVAIL' ? 'no such address on this machine (--metrics-host / CS_METRICS_HOST)' : (err as Error).message;
      throw new ClusterServingError('CS_ERR_CONFIG', `cannot serve metrics on ${this.options.host}:${this.options.port}: ${reason}`, { cause: err });
    });
    this.address = server.address() as AddressInfo;
    return this.address.port;
  }

  /** Stops listening and closes idle connections. Idempotent. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeIdleConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
