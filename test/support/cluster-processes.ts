import type { ChildProcess } from 'node:child_process';
import { JobManagerClient } from '../../src/cluster-api/jobmanager-client';
import { tmpdir } from 'node:os';
import { freePort } from '../../src/embedded/free-port';
import { defaultModelsDir } from '../../src/models/generate';
import { spawnCs } from '../cli/run-cs';
import { waitFor } from './wait-for';

/** Fast failure detection for tests: heartbeats every 200 ms, a TaskManager is dead after 2 s of silence. */
export const FAST_HEARTBEATS = { CS_HEARTBEAT_INTERVAL_MS: '200', CS_HEARTBEAT_TIMEOUT_MS: '2000' } as const;

/** One `cs` process of a test cluster. */
export interface CsProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

function track(child: ChildProcess): CsProcess {
  let text = '';
  child.stdout?.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (text += d.toString()));
  const exited = child.exitCode !== null ? Promise.resolve(child.exitCode) : new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, output: () => text };
}

/**
 * A cluster of real processes: `cs jobmanager start` and any number of `cs taskmanager start`, on one
 * Redis, with fast heartbeats. Everything is killed by `stop()`.
 */
export class TestCluster {
  readonly processes: CsProcess[] = [];
  jobManager: CsProcess | undefined;
  readonly url: string;
  readonly client: JobManagerClient;

  private constructor(
    readonly redisUrl: string,
    readonly port: number,
    readonly cacheDir: string,
    /** The JobManager's environment: FAST_HEARTBEATS unless the cluster runs with the default settings. */
    private readonly jobManagerEnv: Record<string, string> = { ...FAST_HEARTBEATS },
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.client = new JobManagerClient(this.url);
  }

  /** `heartbeats: 'default'` runs the JobManager with the product's default heartbeat interval and timeout; `env` adds variables to its environment. */
  static async start(redisUrl: string, cacheDir: string, options: { heartbeats?: 'fast' | 'default'; env?: Record<string, string> } = {}): Promise<TestCluster> {
    const cluster = new TestCluster(redisUrl, await freePort(), cacheDir, { ...(options.heartbeats === 'default' ? {} : FAST_HEARTBEATS), ...options.env });
    await cluster.startJobManager();
    return cluster;
  }

  async startJobManager(): Promise<CsProcess> {
    // A test cluster trusts its tests: models from the example and temp folders, TypeScript topologies allowed.
    const modelDirs = [defaultModelsDir(), tmpdir()].flatMap((dir) => ['--model-dir', dir]);
    const p = track(spawnCs(['jobmanager', 'start', '--port', String(this.port), '--redis', this.redisUrl, '--cache-dir', `${this.cacheDir}/jm`, ...modelDirs, '--allow-code-topologies'], { env: { ...this.jobManagerEnv } }));
    this.processes.push(p);
    this.jobManager = p;
    await waitFor(() => this.client.listJobs().then(() => true), { maxWaitMs: 20_000, what: `JobManager at ${this.url}` });
    return p;
  }

  /** Starts a TaskManager and waits until the JobManager lists it. */
  async startTaskManager(id: string, slots = 1): Promise<CsProcess> {
    const p = track(
      spawnCs(['taskmanager', 'start', '--jobmanager', this.url, '--redis', this.redisUrl, '--slots', String(slots), '--id', id, '--cache-dir', `${this.cacheDir}/${id}`, '--allow-code-topologies'], { env: { ...this.jobManagerEnv } }),
    );
    this.processes.push(p);
    await waitFor(async () => (await this.client.listTaskManagers()).taskmanagers.some((t) => t.id === id), { maxWaitMs: 20_000, what: `TaskManager ${id} registered` });
    return p;
  }

  async stop(): Promise<void> {
    for (const p of this.processes) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await Promise.all(this.processes.map((p) => p.exited));
  }
}
