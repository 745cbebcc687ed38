/**
 * The JobManager ↔ TaskManager ↔ CLI contract: REST bodies, shared by both sides so jobmanager/ and
 * taskmanager/ never import each other. Paths follow Flink's REST API where it has one.
 *
 *   POST   /jobs                          SubmitJobRequest → SubmitJobResponse
 *   GET    /jobs                          → JobList
 *   GET    /jobs/:jobId                   → JobStatus
 *   GET    /jobs/:jobId/topology          → TopologySource
 *   PATCH  /jobs/:jobId?mode=cancel       → JobStatus   (Flink's cancel; DELETE /jobs/:jobId does the same)
 *   PATCH  /jobs/:jobId/rescaling?parallelism=N → JobStatus   (Flink's rescale)
 *   GET    /jobs/:jobId/checkpoints      → JobCheckpoints
 *   GET    /jobs/:jobId/metrics?since=MS  → JobMetrics (live figures, aggregated from the subtasks' heartbeats)
 *   GET    /jobs/:jobId/model            → the model file's bytes (application/octet-stream), when the
 *                                           JobManager holds them (SubtaskAssignment.modelSha256 is set)
 *   PUT    /models/:sha256               the model file's bytes (application/octet-stream) → ModelUploadResponse
 *                                           (refused unless they hash to :sha256)
 *   GET    /models/:sha256               → the held model file of that content hash (HEAD: whether it is held)
 *   POST   /taskmanagers                  RegisterTaskManagerRequest → RegisterTaskManagerResponse
 *   POST   /taskmanagers/:tmId/heartbeat  HeartbeatRequest → HeartbeatResponse
 *   DELETE /taskmanagers/:tmId            → 204 (graceful deregistration)
 *   GET    /taskmanagers                  → TaskManagerList
 *   GET    /overview                      → { jobs, taskmanagers, slotsTotal, slotsAvailable, access }
 *   GET    /metrics                       Prometheus text format (the JobManager's own figures)
 *   GET    /prometheus/targets            → PrometheusTargetGroup[] (HTTP service discovery of the TaskManagers' /metrics)
 *   GET    /healthz, /readyz              → 200 / 503 with HealthReport (open, like /v2/health/*)
 * Errors: HTTP 4xx/5xx with ErrorBody. With a token configured, every path but /v2/health/live,
 * /v2/health/ready, /healthz and /readyz needs `Authorization: Bearer <token>` (401 CS_ERR_UNAUTHENTICATED otherwise).
 */

/** The topology file as submitted: the JobManager keeps it and ships it to the TaskManagers. */
export interface TopologySource {
  /** File name with extension (`.yaml`, `.yml`, `.ts`): decides how it is loaded. */
  readonly filename: string;
  /** The file's text. */
  readonly source: string;
  /** The folder the file was submitted from: relative model paths resolve against it. */
  readonly baseDir: string;
}

export interface SubmitJobRequest {
  readonly topology: TopologySource;
  /**
   * SHA-256 (hex) of a model uploaded before (`PUT /models/:sha256`): the job runs that model, and the
   * topology's `model.path` is not read on the JobManager. Without it the path must lie inside one of
   * the JobManager's model directories (`--model-dir`).
   */
  readonly modelSha256?: string;
  /**
   * An id the submitter chooses for this submission (e.g. a random UUID): a retried submit with the same
   * id answers the job the first one created instead of creating a second.
   */
  readonly submitId?: string;
}

/** The answer to `PUT /models/:sha256`. */
export interface ModelUploadResponse {
  readonly sha256: string;
  readonly bytes: number;
}

export interface SubmitJobResponse {
  readonly jobId: string;
}

/**
 * A job's state. DEGRADED is only ever shown, never stored: the job is RUNNING, but a subtask reported
 * in its last heartbeat that it cannot read its splits (see JobStatus.degraded).
 */
export type JobState = 'CREATED' | 'RUNNING' | 'DEGRADED' | 'CANCELED' | 'FAILED';

/** Something that happened to a job's splits, recorded by the subtask that saw it (newest last in JobStatus.events). */
export interface JobEvent {
  /** ms since epoch */
  readonly at: number;
  /** `group_recreated`: the split's stream or consumer group was missing (deleted, expired, Redis restarted without persistence) and was created again; entries it held are gone. */
  readonly kind: 'group_recreated';
  readonly split: string;
  readonly subtaskIndex: number;
  readonly taskManagerId: string;
  readonly message: string;
}

/** One parallel instance of a job, run by one TaskManager slot. */
export interface SubtaskStatus {
  readonly index: number;
  readonly taskManagerId: string | null;
  /** Stream keys (splits) this subtask reads. */
  readonly splits: readonly string[];
  /**
   * Incremented each time the subtask's TaskManager changes (assigned, moved or unassigned); the sink
   * refuses writes made with an older one. Absent before the first assignment.
   */
  readonly epoch?: number;
}

/** One split's progress, as `cs job status` shows it. */
export interface SplitStatus {
  readonly split: string;
  /** Entries not yet delivered to any reader (XINFO GROUPS `lag`); null when Redis cannot tell. */
  readonly lag: number | null;
  /** Entries delivered and not yet acknowledged. */
  readonly pending: number;
  /** The split's checkpoint (see SplitCheckpoint), or null before the first one. */
  readonly checkpoint: string | null;
}

/**
 * Per split, the source position up to which every result is written (a Redis Stream ID): everything at
 * or before it has its result in the sink. Recorded in Redis by the subtask that reads the split.
 */
export interface SplitCheckpoint {
  readonly split: string;
  /**
   * Every entry of the split up to and including this id has its result written: read from the consumer
   * group (just before its smallest pending id, else its last delivered id), whatever subtasks share the
   * split; the recorded offset when the group cannot be read.
   */
  readonly offset: string;
  /** The subtask that recorded last, on which TaskManager, and when (ms since epoch). */
  readonly subtaskIndex: number;
  readonly taskManagerId: string;
  readonly updatedAt: number;
}

export interface JobCheckpoints {
  readonly jobId: string;
  readonly splits: readonly SplitCheckpoint[];
}

export interface JobSummary {
  readonly id: string;
  readonly name: string;
  readonly state: JobState;
  readonly parallelism: number;
  /** ms since epoch */
  readonly submittedAt: number;
  /** When the job became CANCELED or FAILED (ms since epoch); absent while it is active. */
  readonly finishedAt?: number;
}

/** One input or output a model file declares. */
export interface ModelTensorStatus {
  readonly name: string;
  /** The served dtype (`float32`, `int64`, …), or the ONNX element type when it is not served (`FLOAT16`). */
  readonly dtype: string;
  /** Dimensions; -1 for a dynamic (symbolic) one, such as the batch. */
  readonly shape: readonly number[];
}

/** What the job's model file declares, read from it by the JobManager (no inference session). */
export interface ModelStatus {
  readonly inputs: readonly ModelTensorStatus[];
  readonly outputs: readonly ModelTensorStatus[];
}

export interface JobStatus extends JobSummary {
  readonly filename: string;
  readonly subtasks: readonly SubtaskStatus[];
  /** Every split of the job with its lag and checkpoint (Redis sources). */
  readonly splitProgress?: readonly SplitStatus[];
  /** The model's declared inputs and outputs; absent when the JobManager cannot read the model file. */
  readonly model?: ModelStatus;
  /** Present when state is FAILED. */
  readonly failure?: string;
  /** The error code of the failure (`CS_ERR_MODEL_LOAD`, `CS_ERR_TOPOLOGY`, …), when the subtask that failed gave one. */
  readonly failureCode?: string;
  /** Present when state is DEGRADED: which subtasks cannot read, and why. */
  readonly degraded?: string;
  /** Present while subtasks are not ready yet (loading their model, waiting for a slot): which, and where. */
  readonly starting?: string;
  /** The job's most recent events (at most 20, oldest first). */
  readonly events?: readonly JobEvent[];
  /** How often each kind of event happened since submit. */
  readonly eventCounts?: Readonly<Partial<Record<JobEvent['kind'], number>>>;
  /** The job's dead-letter stream and how many entries it holds (unusable and poison requests). */
  readonly deadLetter?: { readonly stream: string; readonly entries: number };
}

/**
 * One sample of a job's live figures, aggregated by the JobManager from its subtasks' heartbeats over
 * the interval that ends at `at`. Rates are per second over that interval; latencies are end to end
 * (request written to the stream → result written), in ms, estimated from histogram buckets; null when
 * nothing was served in the interval.
 */
export interface JobMetricsPoint {
  /** ms since epoch: the end of the interval. */
  readonly at: number;
  /** Results written per second (error results included). */
  readonly requestsPerSec: number;
  /** Error results per second. */
  readonly errorsPerSec: number;
  readonly latencyP50Ms: number | null;
  readonly latencyP90Ms: number | null;
  readonly latencyP99Ms: number | null;
  /** Mean number of requests per inference batch in the interval. */
  readonly meanBatchSize: number | null;
  /** Entries not yet delivered to any reader, summed over the job's splits. */
  readonly lag: number;
  /** Entries delivered and not yet acknowledged, summed over the job's splits. */
  readonly pending: number;
}

/** `GET /jobs/:jobId/metrics`: the job's recent samples (oldest first) and its totals since submit. */
export interface JobMetrics {
  readonly jobId: string;
  /** The sampling interval in ms. */
  readonly intervalMs: number;
  /** Samples after `since` (all kept ones, at most the last 10 minutes, without it). */
  readonly points: readonly JobMetricsPoint[];
  readonly totals: {
    readonly requests: number;
    readonly errors: number;
    /** Error results by error code (`CS_ERR_...`). */
    readonly errorsByCode: Readonly<Record<string, number>>;
  };
}

/**
 * `GET /jobs`: every job the JobManager holds, active and finished, in submission order. A finished job
 * is removed `jobRetentionMs` after its `finishedAt` (`--job-retention`), so it drops out of this list then.
 */
export interface JobList {
  readonly jobs: readonly JobSummary[];
  /** How long finished jobs are kept, in ms (absent from a JobManager that keeps them for ever). */
  readonly jobRetentionMs?: number;
}

export interface RegisterTaskManagerRequest {
  readonly id: string;
  readonly host: string;
  readonly slots: number;
  /** Where the TaskManager serves its Prometheus figures, e.g. `http://10.0.0.5:41234/metrics`; absent: none. */
  readonly metricsUrl?: string;
}

export interface RegisterTaskManagerResponse {
  /** The JobManager's cluster name: the TaskManager's subtasks record their state under it. */
  readonly cluster: string;
  readonly heartbeatIntervalMs: number;
  readonly heartbeatTimeoutMs: number;
}

/** What a TaskManager must run: one entry per subtask assigned to it. */
export interface SubtaskAssignment {
  /** The cluster the job belongs to (its control-plane keys live under it). */
  readonly cluster: string;
  readonly jobId: string;
  readonly jobName: string;
  readonly subtaskIndex: number;
  readonly splits: readonly string[];
  /**
   * The subtask's epoch (see SubtaskStatus.epoch): the TaskManager runs it with this one and restarts it
   * when it changes. Absent from a JobManager that does not fence: the subtask then runs unfenced.
   */
  readonly epoch?: number;
  /**
   * Set when the JobManager holds the job's model file: its SHA-256 (hex). A TaskManager that cannot
   * read the model path (or reads different bytes) fetches `GET /jobs/:jobId/model` and caches it by
   * this hash.
   */
  readonly modelSha256?: string;
}

export interface RunningSubtask {
  readonly jobId: string;
  readonly subtaskIndex: number;
  /** Set when the subtask failed to start or died: the JobManager marks the job FAILED with it. */
  readonly failure?: string;
  /** The failure's error code (`CS_ERR_MODEL_LOAD`, …). */
  readonly failureCode?: string;
  /** The epoch of the assignment this report is about (see SubtaskAssignment.epoch). */
  readonly epoch?: number;
  /** Set while the subtask's reads keep failing (the last reason): the JobManager shows the job DEGRADED. */
  readonly readProblem?: string;
  /**
   * True once the subtask can serve: its model is loaded and it reads its splits. A job is RUNNING only
   * when every subtask reports ready (absent: not yet).
   */
  readonly ready?: boolean;
  /** What the subtask has done since it started (cumulative): the JobManager turns these into JobMetrics. */
  readonly stats?: SubtaskStats;
}

/**
 * A subtask's cumulative figures since `since`, sent with every heartbeat. The JobManager takes the
 * difference between consecutive heartbeats; a new `since` or a counter that went down means the subtask
 * started again (e.g. it moved to another TaskManager and back), and its counters count from zero.
 */
export interface SubtaskStats {
  /** ms since epoch: when the subtask started counting. */
  readonly since: number;
  /** Results written (error results included). */
  readonly results: number;
  /** Error results by error code (`CS_ERR_...`). */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /**
   * End-to-end latency (request written to the stream → result written) as a histogram: the number of
   * results per bucket (not cumulative), one count per bound of `LATENCY_BUCKETS_MS`
   * (src/metrics/buckets.ts, ms, upper bound inclusive) and a last one for everything slower.
   */
  readonly latencyCounts: readonly number[];
  /** Inference batches run and the requests they held. */
  readonly batches: number;
  readonly batchedRequests: number;
}

export interface HeartbeatRequest {
  readonly running: readonly RunningSubtask[];
}

export interface HeartbeatResponse {
  /** The full desired set: the TaskManager starts what is new and stops what is gone. */
  readonly assignments: readonly SubtaskAssignment[];
  /** False when the JobManager no longer knows this TaskManager: it must register again. */
  readonly known: boolean;
}

export interface TaskManagerInfo {
  readonly id: string;
  readonly host: string;
  readonly slots: number;
  readonly freeSlots: number;
  /** ms since epoch */
  readonly lastHeartbeat: number;
  readonly subtasks: readonly { jobId: string; subtaskIndex: number }[];
  /** Where the TaskManager serves its Prometheus figures; absent when it said none. */
  readonly metricsUrl?: string;
}

/** One group of Prometheus HTTP service discovery (`http_sd_configs`): the TaskManagers' metrics endpoints. */
export interface PrometheusTargetGroup {
  /** `host:port` of each endpoint. */
  readonly targets: readonly string[];
  /** `__metrics_path__` and `__scheme__` of the group, and `taskmanager` (its id). */
  readonly labels: Readonly<Record<string, string>>;
}

/** `/healthz` and `/readyz` of the JobManager and TaskManagers: 200 when `ok`, else 503 with the reasons. */
export interface HealthReport {
  readonly ok: boolean;
  /** Why not ready (empty when ok). */
  readonly reasons: readonly string[];
}

export interface TaskManagerList {
  readonly taskmanagers: readonly TaskManagerInfo[];
}

export interface ErrorBody {
  readonly code: string;
  readonly message: string;
  /** Every problem, for an invalid topology. */
  readonly problems?: readonly string[];
}
