import { join } from 'node:path';
import type { RunningSubtask, SubtaskAssignment, TopologySource } from '../src/cluster-api/dto';
import { toClusterServingError } from '../src/errors';
import type { Logger } from '../src/logging/logger';
import { codeTopologyRefused, isCodeTopology } from '../src/topology/code-topology-permission';
import { loadTopologySource } from '../src/topology/load-topology';
import type { Topology } from '../src/topology/topology';
import { SubtaskMeter } from '../src/metrics/subtask-meter';
import { SubtaskRunner, type SubtaskRunnerOptions } from './subtask-runner';

/** The lifecycle a slot needs from a subtask (what {@link SubtaskRunner} offers). */
export interface SubtaskHandle {
  start(): Promise<void>;
  close(options?: { force?: boolean }): Promise<void>;
  /** Set while the subtask's reads keep failing: reported with the heartbeat (the job shows DEGRADED). */
  readonly readProblem?: string | undefined;
  /** What the subtask has done: its stats go with the heartbeat. */
  readonly meter?: SubtaskMeter;
}

/** Hears of each subtask's meter: tracked once its runner is made, retired once it is closed (Prometheus keeps its counts). */
export interface SubtaskMeters {
  track(meter: SubtaskMeter): void;
  retire(meter: SubtaskMeter): void;
}

/** What a {@link SlotTable} needs. */
export interface SlotTableOptions {
  readonly taskManagerId: string;
  readonly slots: number;
  /** The cluster's Redis, for topologies that name no address. */
  readonly redisUrl: string;
  /** Shipped topologies are written under `<cacheDir>/topologies`. */
  readonly cacheDir: string;
  /** Load TypeScript topologies (code); refused with CS_ERR_FORBIDDEN otherwise. @default false */
  readonly allowCodeTopologies?: boolean;
  /** `GET /jobs/:id/topology` on the JobManager. */
  readonly fetchTopology: (jobId: string) => Promise<TopologySource>;
  /**
   * The model file a subtask loads, given its assignment and the topology's `model.path` (e.g. a copy
   * shipped by the JobManager, see ModelCache). @default the topology's own path
   */
  readonly resolveModel?: (assignment: SubtaskAssignment, path: string) => Promise<string>;
  /** The TaskManager's logger: the slots log as `taskmanager.slot`; runners get it as it is. */
  readonly logger: Logger;
  /** @default (o) => new SubtaskRunner(o) */
  readonly createRunner?: (options: SubtaskRunnerOptions) => SubtaskHandle;
  /** The TaskManager's metrics. @default none */
  readonly meters?: SubtaskMeters;
}

interface Slot {
  readonly key: string;
  readonly assignment: SubtaskAssignment;
  state: 'starting' | 'running' | 'failed';
  failure?: string;
  failureCode?: string;
  runner?: SubtaskHandle;
  /** Counts what the runner does (made with it). */
  meter?: SubtaskMeter;
  removed: boolean;
  /** Settles when start() has finished, however it ended. */
  started: Promise<void>;
}

function slotKey(jobId: string, subtaskIndex: number): string {
  return `${jobId}/${subtaskIndex}`;
}

function sameSplits(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((s, i) => s === b[i]);
}

/** The consumer name of a subtask's reader in the job's consumer group. */
function consumerName(taskManagerId: string, jobId: string, subtaskIndex: number): string {
  return `${taskManagerId}-${jobId}-${subtaskIndex}`;
}

/**
 * The TaskManager's slots: the subtasks it runs, reconciled against the desired set each heartbeat
 * brings. A new assignment is started in the background (fetch the job's topology from the JobManager,
 * load it into the cache dir without type-checking — the JobManager did that on submit —, then
 * `new SubtaskRunner(...).start()`, with the model path from `resolveModel`); a subtask that is no
 * longer desired is closed, finishing its in-flight work. A subtask whose splits changed (a rescale) is
 * closed the same way and started again with the new splits once the old one has finished; so is one
 * whose epoch changed (it was moved away and back). A subtask whose writes are fenced (a newer epoch was
 * assigned: this TaskManager was declared lost) is closed at once, dropping its in-flight work. A start
 * that fails is reported (see
 * {@link SlotTable.running}) so the JobManager can fail the job; a start that could not reach the
 * JobManager is simply dropped and retried on the next heartbeat.
 */
export class SlotTable {
  private readonly slots = new Map<string, Slot>();
  private readonly closing = new Map<string, Promise<void>>();
  private readonly topologies = new Map<string, Promise<Topology>>();
  /**
   * Per desired subtask whose last start failed for a reason worth retrying (Redis or the JobManager not
   * reachable, a split that cannot hold a consumer group): the reason, reported with the heartbeats as a
   * read problem until a start succeeds, so its job shows DEGRADED rather than RUNNING meanwhile.
   */
  private readonly startProblems = new Map<string, { jobId: string; subtaskIndex: number; problem: string }>();
  private readonly createRunner: (options: SubtaskRunnerOptions) => SubtaskHandle;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly options: SlotTableOptions) {
    this.createRunner = options.createRunner ?? ((o) => new SubtaskRunner(o));
    this.log = options.logger.child({ component: 'taskmanager.slot' });
  }

  /** What this TaskManager runs, for its heartbeat (failed starts carry their failure). */
  running(): RunningSubtask[] {
    const running: RunningSubtask[] = [...this.slots.values()].map((s) => {
      const readProblem = s.runner?.readProblem ?? this.startProblems.get(s.key)?.problem;
      const meter = s.runner ? (s.runner.meter ?? s.meter) : undefined;
      return {
        jobId: s.assignment.jobId,
        subtaskIndex: s.assignment.subtaskIndex,
        ...(s.assignment.epoch !== undefined ? { epoch: s.assignment.epoch } : {}),
        ...(s.failure !== undefined ? { failure: s.failure, failureCode: s.failureCode } : {}),
        ...(readProblem !== undefined ? { readProblem } : {}),
        ...(meter ? { stats: meter.stats() } : {}),
        // Started: its model is loaded and it reads its splits (see SubtaskRunner.start).
        ...(s.state === 'running' ? { ready: true } : {}),
      };
    });
    for (const [key, p] of this.startProblems) {
      if (!this.slots.has(key)) running.push({ jobId: p.jobId, subtaskIndex: p.subtaskIndex, readProblem: p.problem });
    }
    return running;
  }

  /** Number of subtasks running or starting. */
  get size(): number {
    return this.slots.size;
  }

  /** Starts what is new in `desired` and closes what is gone; returns without waiting for either. */
  apply(desired: readonly SubtaskAssignment[]): void {
    if (this.closed) return;
    const wanted = new Map<string, SubtaskAssignment>();
    for (const a of desired) wanted.set(slotKey(a.jobId, a.subtaskIndex), a);
    for (const key of this.startProblems.keys()) if (!wanted.has(key)) this.startProblems.delete(key);
    for (const slot of [...this.slots.values()]) {
      const next = wanted.get(slot.key);
      if (!next || !sameSplits(next.splits, slot.assignment.splits) || next.epoch !== slot.assignment.epoch) this.remove(slot, false);
    }
    for (const [key, assignment] of wanted) {
      if (this.slots.has(key)) continue;
      if (this.slots.size >= this.options.slots) {
        this.log.warn({ jobId: assignment.jobId, subtask: assignment.subtaskIndex, slots: this.options.slots }, 'taskmanager.slot.full');
        continue;
      }
      this.add(key, assignment);
    }
  }

  private add(key: string, assignment: SubtaskAssignment): void {
    const slot: Slot = { key, assignment, state: 'starting', removed: false, started: Promise.resolve() };
    this.slots.set(key, slot);
    slot.started = this.startSlot(slot);
  }

  private async startSlot(slot: Slot): Promise<void> {
    const { jobId, subtaskIndex, splits, jobName } = slot.assignment;
    const log = this.log.child({ jobId, job: jobName, subtask: subtaskIndex });
    await this.closing.get(slot.key);
    if (slot.removed) return;
    try {
      const topology = await this.withModel(slot.assignment, await this.topologyOf(jobId));
      if (slot.removed) return;
      const meter = (slot.meter = new SubtaskMeter({ job: jobName, jobId, subtaskIndex }));
      this.options.meters?.track(meter);
      const runner = this.createRunner({
        meter,
        cluster: slot.assignment.cluster,
        jobId,
        subtaskIndex,
        topology,
        splits,
        redisUrl: this.options.redisUrl,
        consumerName: consumerName(this.options.taskManagerId, jobId, subtaskIndex),
        taskManagerId: this.options.taskManagerId,
        logger: this.options.logger,
        ...(slot.assignment.epoch !== undefined ? { epoch: slot.assignment.epoch } : {}),
        // Whoever held this subtask before under another TaskManager id is fenced by the new epoch.
        takeOver: (consumer) => consumer.endsWith(`-${jobId}-${subtaskIndex}`) && consumer !== consumerName(this.options.taskManagerId, jobId, subtaskIndex),
        onFenced: () => {
          if (this.slots.get(slot.key) === slot) this.remove(slot, true);
        },
      });
      slot.runner = runner;
      await runner.start();
      this.startProblems.delete(slot.key);
      if (!slot.removed) {
        slot.state = 'running';
        log.info({ splits }, 'taskmanager.slot.assigned');
      }
    } catch (err) {
      const error = toClusterServingError(err);
      if (slot.removed) return;
      if (error.retriable) {
        // JobManager or Redis not reachable right now: drop the slot, the next heartbeat starts it again.
        log.warn({ reason: error.message, code: error.code }, 'taskmanager.slot.retry');
        this.startProblems.set(slot.key, { jobId, subtaskIndex, problem: `cannot start: ${error.message}`.slice(0, 1000) });
        await this.closeQuietly(slot, true, log);
        this.retireMeter(slot);
        slot.state = 'failed'; // nothing left to close
        if (!slot.removed) {
          slot.removed = true;
          this.slots.delete(slot.key);
          this.forgetTopologyIfUnused(jobId);
        }
        return;
      }
      slot.state = 'failed';
      slot.failure = error.message;
      slot.failureCode = error.code;
      // A user mistake (model unreadable, source not available) is one line; only a bug carries its stack.
      log.error({ code: error.code, reason: error.message, ...(error.code === 'CS_ERR_INTERNAL' ? { err: error } : {}) }, 'taskmanager.slot.failed');
      await this.closeQuietly(slot, true, log);
    }
  }

  private async closeQuietly(slot: Slot, force: boolean, log: Logger): Promise<void> {
    if (!slot.runner) return;
    try {
      await slot.runner.close({ force });
    } catch (err) {
      log.warn({ err }, 'taskmanager.slot.close.failed');
    }
  }

  private remove(slot: Slot, force: boolean): void {
    slot.removed = true;
    this.slots.delete(slot.key);
    const { jobId, subtaskIndex } = slot.assignment;
    const log = this.log.child({ jobId, job: slot.assignment.jobName, subtask: subtaskIndex });
    const previous = this.closing.get(slot.key) ?? Promise.resolve();
    const done = (async () => {
      await previous;
      await slot.started;
      try {
        if (slot.state === 'failed') return; // already closed when it failed
        await this.closeQuietly(slot, force, log);
        log.info('taskmanager.slot.released');
      } finally {
        this.retireMeter(slot);
      }
    })();
    this.closing.set(slot.key, done);
    void done.finally(() => {
      if (this.closing.get(slot.key) === done) this.closing.delete(slot.key);
    });
    this.forgetTopologyIfUnused(jobId);
  }

  /** The subtask's counts stay with the TaskManager's metrics once it is gone. */
  private retireMeter(slot: Slot): void {
    if (slot.meter) this.options.meters?.retire(slot.meter);
  }

  private topologyOf(jobId: string): Promise<Topology> {
    let topology = this.topologies.get(jobId);
    if (!topology) {
      topology = this.options
        .fetchTopology(jobId)
        .then(async (source) => {
          if (isCodeTopology(source.filename) && this.options.allowCodeTopologies !== true) throw codeTopologyRefused(source.filename, 'TaskManager');
          return (await loadTopologySource(source, join(this.options.cacheDir, 'topologies'))).topology;
        });
      topology.catch(() => {
        if (this.topologies.get(jobId) === topology) this.topologies.delete(jobId);
      });
      this.topologies.set(jobId, topology);
    }
    return topology;
  }

  /** The topology with the model path this subtask should load. */
  private async withModel(assignment: SubtaskAssignment, topology: Topology): Promise<Topology> {
    const path = topology.spec.model.path;
    const chosen = this.options.resolveModel ? await this.options.resolveModel(assignment, path) : path;
    if (chosen === path) return topology;
    return { ...topology, spec: { ...topology.spec, model: { ...topology.spec.model, path: chosen } } };
  }

  private forgetTopologyIfUnused(jobId: string): void {
    for (const s of this.slots.values()) if (s.assignment.jobId === jobId) return;
    this.topologies.delete(jobId);
  }

  /**
   * Closes every subtask (each finishes its in-flight work unless `force`) and waits for them all.
   * Idempotent; later `apply` calls do nothing.
   */
  async close(options: { force?: boolean } = {}): Promise<void> {
    this.closed = true;
    for (const slot of [...this.slots.values()]) this.remove(slot, options.force === true);
    await Promise.all([...this.closing.values()]);
  }
}
