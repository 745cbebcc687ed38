import { strict as assert } from 'node:assert';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultModelsDir } from '../../src/models/generate';
import type { HeartbeatResponse, RegisterTaskManagerResponse, RunningSubtask, SubmitJobResponse, TopologySource } from '../../src/cluster-api/dto';
import { createLogger } from '../../src/logging/logger';
import { startJobManager, type JobManager } from '../../jobmanager/main';
import { uniqueName } from './wait-for';

export interface TestJobManagerOptions {
  readonly redisUrl: string;
  readonly cacheDir: string;
  /** @default 0 (a free port) */
  readonly port?: number;
  /** The KServe v2 gRPC API's port (0: a free one). @default off */
  readonly grpcPort?: number;
  /** @default 100 */
  readonly heartbeatIntervalMs?: number;
  /** @default 2000 */
  readonly heartbeatTimeoutMs?: number;
  /** Folders model paths may point into. @default {@link TEST_MODEL_DIRS} */
  readonly modelDirs?: readonly string[];
  /** Accept TypeScript topologies. @default false */
  readonly allowCodeTopologies?: boolean;
  /** Write the jobs' samples as TensorBoard scalars here. @default off */
  readonly tensorboardDir?: string;
}

/**
 * The model directories of a test JobManager: the OS temp folder (tests write their models into temp
 * folders), the example models and `/srv/topologies` (where {@link yamlTopology}'s model, which nobody
 * reads, would be).
 */
export const TEST_MODEL_DIRS: readonly string[] = [tmpdir(), defaultModelsDir(), '/srv/topologies'];

/** A JobManager in this process on 127.0.0.1, with fast heartbeats and logs at CS_TEST_LOG_LEVEL (silent by default). */
export function startTestJobManager(options: TestJobManagerOptions): Promise<JobManager> {
  return startJobManager({
    redisUrl: options.redisUrl,
    host: '127.0.0.1',
    port: options.port ?? 0,
    grpcPort: options.grpcPort,
    cacheDir: options.cacheDir,
    heartbeatIntervalMs: options.heartbeatIntervalMs ?? 100,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs ?? 2000,
    modelDirs: options.modelDirs ?? TEST_MODEL_DIRS,
    allowCodeTopologies: options.allowCodeTopologies ?? false,
    tensorboardDir: options.tensorboardDir,
    logger: createLogger('jobmanager', process.env.CS_TEST_LOG_LEVEL ?? 'silent'),
  });
}

export interface RestReply<T> {
  readonly status: number;
  readonly body: T;
}

/** One REST call as a TaskManager or the CLI makes it: JSON in, JSON (or nothing) out. */
export async function restCall<T>(base: string, method: string, path: string, body?: unknown): Promise<RestReply<T>> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/**
 * A YAML topology on the generated tiny model (the JobManager checks at submit that it is there and fits
 * the decode step; `node bin/cs.js model generate` writes it).
 */
export function yamlTopology(name: string, options: { parallelism?: number; partitions?: number } = {}): TopologySource {
  const source = [
    `name: ${name}`,
    'source:',
    '  type: redis',
    `  partitions: ${options.partitions ?? 1}`,
    'model:',
    `  path: ${join(defaultModelsDir(), 'tiny.onnx')}`,
    `parallelism: ${options.parallelism ?? 1}`,
    '',
  ].join('\n');
  return { filename: `${name}.yaml`, source, baseDir: '/srv/topologies' };
}

/** Submits a topology over REST; asserts 200 and answers the job id. */
export async function submitTopology(base: string, topology: TopologySource): Promise<string> {
  const res = await restCall<SubmitJobResponse>(base, 'POST', '/jobs', { topology });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return res.body.jobId;
}

/** A TaskManager as seen from the JobManager: it registers, then heartbeats when told to. */
export class RestTaskManager {
  readonly id: string;

  /** @param base the JobManager's URL, read at each call (a test may restart the JobManager) */
  constructor(
    private readonly base: () => string,
    readonly slots: number,
    idPrefix = 'tm-test',
  ) {
    this.id = uniqueName(idPrefix);
  }

  async register(): Promise<RegisterTaskManagerResponse> {
    const res = await restCall<RegisterTaskManagerResponse>(this.base(), 'POST', '/taskmanagers', { id: this.id, host: 'test-host', slots: this.slots });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  /** Reports `running` (a subtask with `ready: true` can serve: its job becomes RUNNING once all of them are). */
  async heartbeat(running: readonly RunningSubtask[] = []): Promise<HeartbeatResponse> {
    const res = await restCall<HeartbeatResponse>(this.base(), 'POST', `/taskmanagers/${this.id}/heartbeat`, { running });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    return res.body;
  }

  /** Heartbeats reporting every subtask the last answer assigned as ready; answers the new assignments. */
  async heartbeatReady(): Promise<HeartbeatResponse> {
    const first = await this.heartbeat(this.lastReady);
    this.lastReady = first.assignments.map((a) => ({ jobId: a.jobId, subtaskIndex: a.subtaskIndex, ...(a.epoch !== undefined ? { epoch: a.epoch } : {}), ready: true }));
    return first;
  }

  private lastReady: RunningSubtask[] = [];

  async deregister(): Promise<void> {
    await restCall(this.base(), 'DELETE', `/taskmanagers/${this.id}`);
  }
}
