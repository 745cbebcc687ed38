import type { NamedTensors } from './tensor';
import type { ErrorCode } from '../errors/codes';
import type { SourceEntry } from '../connector/source';

/** Where a request came from, so the sink can acknowledge exactly it once its result is written. */
export interface EntryRef {
  /** The split (stream partition) the entry was read from. */
  readonly split: string;
  /** The source's position of the entry (a Redis Stream ID). */
  readonly entryId: string;
}

/** One string per entry, for maps keyed by the entry a request came from. */
export function entryKey(ref: EntryRef): string {
  return `${ref.split}\n${ref.entryId}`;
}

/** One decoded inference request flowing through a slot's operator graph. */
export interface InferenceRequest {
  readonly kind: 'request';
  readonly uri: string;
  readonly ref: EntryRef;
  /** Where to push the result as soon as it is written (a reply stream key), if the client waits for it. */
  readonly replyTo: string | undefined;
  readonly inputs: NamedTensors;
  /** performance.now() when the source read the entry, for latency metrics. */
  readonly receivedAt: number;
}

export interface ResultError {
  readonly code: ErrorCode;
  readonly message: string;
}

/** The one visible outcome of a request: its outputs, or an error. */
export interface InferenceResult {
  readonly kind: 'result';
  readonly uri: string;
  readonly ref: EntryRef;
  readonly replyTo: string | undefined;
  readonly outputs: NamedTensors | undefined;
  readonly error: ResultError | undefined;
  readonly receivedAt: number;
  /**
   * Set when the entry could not be decoded at all: the sink parks the entry as it was read in the
   * dead-letter stream with this reason (and writes the error result), instead of only writing the result.
   */
  readonly deadLetter?: { readonly reason: string; readonly entry: SourceEntry };
}

export function errorResult(from: Pick<InferenceRequest, 'uri' | 'ref' | 'replyTo' | 'receivedAt'>, error: ResultError): InferenceResult {
  return { kind: 'result', uri: from.uri, ref: from.ref, replyTo: from.replyTo, receivedAt: from.receivedAt, outputs: undefined, error };
}

/** The error result of an entry that could not be decoded at all: it also goes to the dead-letter stream. */
export function undecodableResult(entry: SourceEntry, from: Pick<InferenceRequest, 'uri' | 'ref' | 'replyTo' | 'receivedAt'>, error: ResultError): InferenceResult {
  return { ...errorResult(from, error), deadLetter: { reason: `undecodable: ${error.message}`, entry } };
}

export function okResult(from: Pick<InferenceRequest, 'uri' | 'ref' | 'replyTo' | 'receivedAt'>, outputs: NamedTensors): InferenceResult {
  return { kind: 'result', uri: from.uri, ref: from.ref, replyTo: from.replyTo, receivedAt: from.receivedAt, outputs, error: undefined };
}
