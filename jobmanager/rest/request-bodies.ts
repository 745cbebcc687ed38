import { z } from 'zod';
import type { HeartbeatRequest, RegisterTaskManagerRequest, SubmitJobRequest } from '../../src/cluster-api/dto';
import { ClusterServingError } from '../../src/errors';

/** Runtime checks of the request bodies typed in src/cluster-api/dto.ts; unknown fields are refused. */

/** Largest topology file a submit may carry, in bytes (UTF-8). */
export const MAX_TOPOLOGY_BYTES = 256 * 1024;

const topologySource = z.strictObject({
  filename: z.string().min(1).max(255),
  source: z.string().refine((text) => Buffer.byteLength(text, 'utf8') <= MAX_TOPOLOGY_BYTES, {
    message: `the topology file is larger than ${MAX_TOPOLOGY_BYTES} bytes (${MAX_TOPOLOGY_BYTES / 1024} KiB), the most a submit takes`,
    abort: true,
  }),
  baseDir: z.string().max(4096),
});

const submitJob = z.strictObject({
  topology: topologySource,
  modelSha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be a SHA-256 in lower-case hex').optional(),
  submitId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/, 'must be 1 to 128 letters, digits, "-", "_", "." or ":"').optional(),
});

const registerTaskManager = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/),
  host: z.string().min(1).max(255),
  slots: z.number().int().min(1).max(1024),
  metricsUrl: z.url({ protocol: /^https?$/ }).max(2048).optional(),
});

const count = z.number().nonnegative().finite();

/** RunningSubtask.stats; the histogram's length is checked where it is used (JobMetricsSeries). */
const subtaskStats = z.strictObject({
  since: z.number().nonnegative().finite(),
  results: count,
  errorsByCode: z.record(z.string().max(100), count),
  latencyCounts: z.array(count).max(100),
  batches: count,
  batchedRequests: count,
});

const heartbeat = z.strictObject({
  running: z.array(
    z.strictObject({
      jobId: z.string().min(1),
      subtaskIndex: z.number().int().min(0),
      failure: z.string().optional(),
      failureCode: z.string().max(64).optional(),
      epoch: z.number().int().min(0).optional(),
      readProblem: z.string().max(4000).optional(),
      stats: subtaskStats.optional(),
      ready: z.boolean().optional(),
    }),
  ),
});

function parseWith<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(body)'}: ${i.message}`);
  throw new ClusterServingError('CS_ERR_BAD_REQUEST', `invalid ${what}: ${problems.join('; ')}`);
}

/** Checks a `POST /jobs` body. */
export function parseSubmitJobRequest(body: unknown): SubmitJobRequest {
  return parseWith(submitJob, body, 'job submission');
}

/** Checks a `POST /taskmanagers` body. */
export function parseRegisterTaskManagerRequest(body: unknown): RegisterTaskManagerRequest {
  return parseWith(registerTaskManager, body, 'TaskManager registration');
}

/** Checks a `POST /taskmanagers/:tmId/heartbeat` body. */
export function parseHeartbeatRequest(body: unknown): HeartbeatRequest {
  return parseWith(heartbeat, body, 'heartbeat');
}
