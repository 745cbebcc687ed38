import type { EntryRef } from '../tensor/records';

/** One entry as a source read it: which split, its position, the client's uri and payload. */
export interface SourceEntry extends EntryRef {
  /** The request's uri (empty when the entry carries none: it then gets an error result under its id). */
  readonly uri: string;
  /** The protocol payload (native: version byte + Avro Request). */
  readonly data: Uint8Array;
  /** Every other field of the entry, for protocols that need more than uri and data. */
  readonly extra?: ReadonlyMap<string, Uint8Array>;
  /**
   * How many times the entry has been delivered to a reader, this delivery included: 1 on a first read,
   * more when it comes back after a crash (re-read by the same consumer name, or claimed from a dead
   * one). Absent when the source cannot tell. A poison policy parks entries delivered too often.
   */
  readonly deliveries?: number;
}

/**
 * The seam for where requests come from (Redis Streams today; Kafka later). Guarantees:
 * - at-least-once: an entry stays pending until the sink acknowledges it after writing its result, so a
 *   crashed reader's entries are delivered again (to the same consumer name on restart, or claimed by
 *   another reader once they have been pending long enough);
 * - pull-based: `read` returns at most `maxEntries`, so the caller bounds in-flight work and a slow
 *   model makes the stream grow, never the process memory.
 */
export interface Source {
  /** Prepares the splits (creates consumer groups if needed). Idempotent. */
  start(): Promise<void>;
  /**
   * Up to `maxEntries` entries: first those delivered to this reader before and never acknowledged,
   * then (periodically) those reclaimed from readers that stopped, then new ones, waiting at most
   * `blockMs` for any. An empty array means none arrived in time.
   */
  read(maxEntries: number, blockMs: number): Promise<SourceEntry[]>;
  /**
   * Optional: the caller is done with an entry's bytes (its result is written), so the source may reuse
   * the memory of its `data` for a later entry. Nothing may read that entry's `data`, or tensors viewing
   * it, afterwards. Never calling it is always safe.
   */
  recycle?(ref: EntryRef): void;
  /** Stops reading; a pending `read` resolves empty. Idempotent. */
  close(): Promise<void>;
}
