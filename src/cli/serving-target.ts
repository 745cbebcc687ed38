import type { JobSummary, ModelTensorStatus } from '../cluster-api/dto';
import { JobManagerClient } from '../cluster-api/jobmanager-client';
import { readJobManagerAccess } from '../config/read-jobmanager-access';
import { ClusterServingError } from '../errors';
import { loadTopologySource } from '../topology/load-topology';

/** Where `cs predict` and `cs bench` send requests, and what they know of the model. */
export interface ServingTarget {
  /** How messages name it: `job tiny` or `stream tiny`. */
  readonly label: string;
  readonly redisUrl: string;
  readonly stream: string;
  readonly partitions: number;
  /** The model's declared inputs (from the JobManager); undefined with `--stream`. */
  readonly inputs?: readonly ModelTensorStatus[];
  /**
   * Inputs that take an encoded image (with `decode: image`, the model's rank-4 inputs, as the KServe
   * gateway does); empty when the job does not decode images; undefined when unknown (`--stream`, or a
   * `decode: image` job whose model the JobManager cannot read).
   */
  readonly imageInputs?: ReadonlySet<string>;
}

/** How the target is named on the command line: a job (id or name) through the JobManager, or a stream directly. */
export type TargetRef = { readonly job: string } | { readonly stream: string; readonly partitions: number };

/** The JobManager (and its token and CA), the cluster's Redis (a stream's default address) and where topologies are loaded from. */
export interface TargetOptions {
  readonly jobmanagerUrl: string;
  readonly redisUrl: string;
  readonly cacheDir: string;
  readonly token?: string | undefined;
  readonly tokenFile?: string | undefined;
  readonly caFile?: string | undefined;
}

function isActive(job: JobSummary): boolean {
  return job.state === 'CREATED' || job.state === 'RUNNING';
}

/** The job a reference names: a job id, else the newest CREATED or RUNNING job of that name. */
function pickJob(jobs: readonly JobSummary[], ref: string): JobSummary | undefined {
  const byId = jobs.find((j) => j.id === ref);
  if (byId) return byId;
  let job: JobSummary | undefined;
  for (const j of jobs) if (j.name === ref && isActive(j) && (!job || j.submittedAt >= job.submittedAt)) job = j;
  return job;
}

/**
 * Resolves where requests go. With a job: asks the JobManager for the job (by id, or the newest active
 * job of that name), its model's declared inputs and its topology (stream, partitions, Redis address,
 * decode), and refuses a job that is not RUNNING or whose stream does not take native requests with
 * results written back to the same Redis. With a stream: uses it as given.
 *
 * @throws ClusterServingError CS_ERR_NOT_FOUND for an unknown job; CS_ERR_CLOSED for a job that is not
 *   running; CS_ERR_BAD_REQUEST for a job the native client cannot reach.
 */
export async function resolveServingTarget(ref: TargetRef, options: TargetOptions): Promise<ServingTarget> {
  if ('stream' in ref) return { label: `stream ${ref.stream}`, redisUrl: options.redisUrl, stream: ref.stream, partitions: ref.partitions };
  const client = new JobManagerClient(options.jobmanagerUrl, readJobManagerAccess(options));
  const job = pickJob((await client.listJobs()).jobs, ref.job);
  if (!job) throw new ClusterServingError('CS_ERR_NOT_FOUND', `unknown job "${ref.job}": the JobManager at ${options.jobmanagerUrl} has no job with that id and no running job with that name (see cs job list)`);
  const label = `job ${job.name}`;
  if (job.state !== 'RUNNING') {
    const why = job.state === 'CREATED' ? 'it waits for a free TaskManager slot' : 'it no longer runs';
    throw new ClusterServingError('CS_ERR_CLOSED', `${label} (${job.id}) is ${job.state}, not RUNNING: ${why}`);
  }
  const [status, source] = await Promise.all([client.jobStatus(job.id), client.jobTopology(job.id)]);
  const { spec } = (await loadTopologySource(source, options.cacheDir)).topology;
  const refuse = (why: string): never => {
    throw new ClusterServingError('CS_ERR_BAD_REQUEST', `${label} cannot take requests from cs: ${why}`);
  };
  if (spec.source.type !== 'redis') return refuse(`its requests come from ${spec.source.type}, and cs writes to a Redis stream`);
  if (spec.source.protocol !== 'native') return refuse(`its stream speaks the ${spec.source.protocol} protocol, and cs sends native requests`);
  const redisUrl = spec.source.address ?? options.redisUrl;
  if (spec.sink.type !== 'redis' || (spec.sink.address ?? options.redisUrl) !== redisUrl) return refuse('its results are not written to the Redis its stream is on');
  const inputs = status.model?.inputs;
  const rank4 = (inputs ?? []).filter((i) => i.shape.length === 4).map((i) => i.name);
  const imageInputs = spec.decode.type !== 'image' ? new Set<string>() : inputs ? new Set(rank4) : undefined;
  return { label, redisUrl, stream: spec.source.stream ?? spec.name, partitions: spec.source.partitions, inputs, imageInputs };
}
