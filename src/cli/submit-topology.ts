import { randomUUID } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { withProgress } from './progress';
import type { SubmitJobResponse, TopologySource } from '../cluster-api/dto';
import type { JobManagerClient } from '../cluster-api/jobmanager-client';
import { sha256OfFile } from '../cluster-api/model-files';
import { retry } from '../retry/retry';
import { loadTopologySource } from '../topology/load-topology';
import type { TopologySpec } from '../topology/schema';

/**
 * How long one submit waits for its answer, in ms: a TypeScript topology is type-checked (in a child
 * process, at most 120 s by default, more when several wait their turn) before the JobManager answers.
 */
export const SUBMIT_TIMEOUT_MS = 300_000;

/** What {@link submitTopology} did. */
export interface SubmittedTopology extends SubmitJobResponse {
  /** The SHA-256 of the model file uploaded with the job; undefined when none was readable here. */
  readonly uploadedSha256?: string;
}

/**
 * Submits a topology the way `cs job submit` and `cs start` do: when the model file the topology names
 * is readable here, it is uploaded first (`PUT /models/<sha256>`, skipped when the JobManager already
 * holds that hash) and the job names it by hash, so the JobManager needs no access to this machine's
 * files; otherwise the JobManager must find the path inside its own model directories. The submit carries
 * a random submit id and is retried on a lost connection or an unanswered call with the same id, so a
 * retry never creates a second job.
 *
 * @param spec - the topology's spec when the caller has loaded it; else it is loaded here (a TypeScript
 *   file is transpiled and run: it is the user's own). A topology that does not load here is submitted
 *   as it is, for the JobManager to report every problem.
 */
export async function submitTopology(client: JobManagerClient, source: TopologySource, options: { spec?: TopologySpec; cacheDir: string }): Promise<SubmittedTopology> {
  const spec = options.spec ?? (await loadTopologySource(source, options.cacheDir).then((l) => l.topology.spec, () => undefined));
  const modelFile = spec !== undefined ? await readableFile(spec.model.path) : undefined;
  let uploadedSha256: string | undefined;
  if (modelFile !== undefined) {
    // Hashing and uploading a large model takes a while: shown on a terminal only (scripts keep a clean stderr).
    const size = `${((await stat(modelFile)).size / 1024 ** 2).toFixed(1)} MB`;
    uploadedSha256 = await withProgress(`model ${basename(modelFile)} (${size})`, async (progress) => {
      progress.update('hashing');
      const sha256 = await sha256OfFile(modelFile);
      progress.update('uploading');
      if (!(await client.hasModel(sha256))) await client.uploadModel(sha256, modelFile);
      return sha256;
    }, { mode: 'tty-only', summary: () => 'uploaded' });
  }
  const submitId = randomUUID();
  const { jobId } = await retry(() => client.submitJob(source, { submitId, timeoutMs: SUBMIT_TIMEOUT_MS, ...(uploadedSha256 !== undefined ? { modelSha256: uploadedSha256 } : {}) }), {
    attempts: 3,
    initialMs: 500,
    maxMs: 5000,
  });
  return { jobId, ...(uploadedSha256 !== undefined ? { uploadedSha256 } : {}) };
}

async function readableFile(path: string): Promise<string | undefined> {
  try {
    return (await stat(path)).isFile() ? path : undefined;
  } catch {
    return undefined;
  }
}
