import { compareStreamIds } from '../src/redis/stream-ids';

/** Where one entry this subtask read stands. */
type EntryState =
  /** read and somewhere between source and sink */
  | 'processing'
  /** read, but dropped without a result (a sink write failed): it is still pending in Redis */
  | 'released'
  /** its result is written */
  | 'written';

interface SplitState {
  /** Tracked ids in ascending order; those before `head` are gone. */
  readonly ids: string[];
  head: number;
  readonly states: Map<string, EntryState>;
  checkpoint: string | undefined;
}

/**
 * Per split, the checkpoint: the largest entry id such that every entry this subtask read from the
 * split at or before it has its result written. Pure bookkeeping, no I/O: the runner reports what it
 * read ({@link read}), what the sink wrote ({@link written}) and what it dropped unwritten
 * ({@link released}); the checkpoint recorder stores {@link checkpoints} in Redis.
 *
 * Ids are kept in order per split; the written prefix is dropped as the checkpoint moves past it, so
 * memory is bounded by what is in flight (plus written entries behind an unwritten one). An entry read
 * again below the checkpoint (claimed from a dead reader, re-read after a restart) never moves the
 * checkpoint back; while it is unwritten it holds the checkpoint where it is.
 */
export class CheckpointTracker {
  private readonly splits = new Map<string, SplitState>();

  /** Records that the entry was read (again, possibly). */
  read(split: string, entryId: string): void {
    const s = this.split(split);
    const state = s.states.get(entryId);
    if (state === 'written' || state === 'processing') return; // a duplicate: its first copy decides
    if (state === 'released') {
      s.states.set(entryId, 'processing');
      return;
    }
    s.states.set(entryId, 'processing');
    insertSorted(s, entryId);
  }

  /** Records that the entry's result is written (and the entry acknowledged). Unknown ids are ignored. */
  written(split: string, entryId: string): void {
    const s = this.splits.get(split);
    if (!s?.states.has(entryId)) return;
    s.states.set(entryId, 'written');
    advance(s);
  }

  /**
   * Records that the entry left the pipeline without its result (a sink write failed): it stays pending
   * in Redis, holds the checkpoint back, and may be claimed and read again.
   */
  released(split: string, entryId: string): void {
    const s = this.splits.get(split);
    if (s?.states.get(entryId) === 'processing') s.states.set(entryId, 'released');
  }

  /** True while the entry is between source and sink here (so it must not be claimed again). */
  inFlight(split: string, entryId: string): boolean {
    return this.splits.get(split)?.states.get(entryId) === 'processing';
  }

  /** The split's checkpoint, undefined before its first one. */
  checkpoint(split: string): string | undefined {
    return this.splits.get(split)?.checkpoint;
  }

  /** Every split's checkpoint (splits without one yet are left out). */
  checkpoints(): Map<string, string> {
    const out = new Map<string, string>();
    for (const [split, s] of this.splits) if (s.checkpoint !== undefined) out.set(split, s.checkpoint);
    return out;
  }

  /** Entries read and not yet written, over all splits. */
  get unwritten(): number {
    let n = 0;
    for (const s of this.splits.values()) for (const state of s.states.values()) if (state !== 'written') n++;
    return n;
  }

  private split(split: string): SplitState {
    let s = this.splits.get(split);
    if (!s) this.splits.set(split, (s = { ids: [], head: 0, states: new Map(), checkpoint: undefined }));
    return s;
  }
}

function insertSorted(s: SplitState, entryId: string): void {
  const { ids } = s;
  // Usually the newest id: append.
  if (ids.length === s.head || compareStreamIds(ids[ids.length - 1]!, entryId) < 0) {
    ids.push(entryId);
    return;
  }
  let lo = s.head;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareStreamIds(ids[mid]!, entryId) < 0) lo = mid + 1;
    else hi = mid;
  }
  ids.splice(lo, 0, entryId);
}

/** Drops the written prefix and moves the checkpoint to its last id (never backwards). */
function advance(s: SplitState): void {
  const { ids, states } = s;
  let last: string | undefined;
  while (s.head < ids.length && states.get(ids[s.head]!) === 'written') {
    last = ids[s.head]!;
    states.delete(last);
    s.head++;
  }
  if (s.head > 1024 && s.head * 2 > ids.length) {
    ids.splice(0, s.head);
    s.head = 0;
  } else if (s.head === ids.length) {
    ids.length = 0;
    s.head = 0;
  }
  if (last !== undefined && (s.checkpoint === undefined || compareStreamIds(last, s.checkpoint) > 0)) s.checkpoint = last;
}
