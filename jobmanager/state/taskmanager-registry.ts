import type { Redis } from 'ioredis';
import type { RegisterTaskManagerRequest, RunningSubtask } from '../../src/cluster-api/dto';
import { taskManagersKey } from '../../src/cluster-api/keys';

/** A registered TaskManager as the JobManager keeps it. */
export interface TaskManagerRecord {
  readonly id: string;
  readonly host: string;
  readonly slots: number;
  /** ms since epoch */
  readonly registeredAt: number;
  /** ms since epoch */
  readonly lastHeartbeat: number;
  /** What it reported running in its last heartbeat. */
  readonly running: readonly RunningSubtask[];
  /** Where it serves its Prometheus figures, as it said at registration. */
  readonly metricsUrl?: string;
}

function parse(text: string | null | undefined): TaskManagerRecord | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as TaskManagerRecord;
    return typeof value.id === 'string' && typeof value.slots === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The registered TaskManagers and their last heartbeat, in the Redis hash `cs:{<cluster>}:taskmanagers`
 * (field = TaskManager id, value = JSON), so a restarted JobManager still knows them.
 * Callers serialise writes (the JobManager does).
 */
export class TaskManagerRegistry {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    cluster: string,
  ) {
    this.key = taskManagersKey(cluster);
  }

  /** Adds or replaces a TaskManager; registering counts as a heartbeat. */
  async register(request: RegisterTaskManagerRequest, now: number): Promise<TaskManagerRecord> {
    const record: TaskManagerRecord = { id: request.id, host: request.host, slots: request.slots, registeredAt: now, lastHeartbeat: now, running: [], ...(request.metricsUrl !== undefined ? { metricsUrl: request.metricsUrl } : {}) };
    await this.redis.hset(this.key, request.id, JSON.stringify(record));
    return record;
  }

  /** Records a heartbeat (without the subtasks' stats, which only the live figures need); answers undefined when the TaskManager is not registered. */
  async heartbeat(id: string, running: readonly RunningSubtask[], now: number): Promise<TaskManagerRecord | undefined> {
    const current = parse(await this.redis.hget(this.key, id));
    if (!current) return undefined;
    const record: TaskManagerRecord = { ...current, lastHeartbeat: now, running: running.map(({ stats: _stats, ...rest }) => rest) };
    await this.redis.hset(this.key, id, JSON.stringify(record));
    return record;
  }

  async get(id: string): Promise<TaskManagerRecord | undefined> {
    return parse(await this.redis.hget(this.key, id));
  }

  /** Every registered TaskManager, by id. */
  async list(): Promise<TaskManagerRecord[]> {
    const all = await this.redis.hvals(this.key);
    return all
      .map((v) => parse(v))
      .filter((r): r is TaskManagerRecord => r !== undefined)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** Forgets TaskManagers; answers how many were registered. */
  async remove(...ids: string[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.redis.hdel(this.key, ...ids);
  }
}
