import { map, type OperatorFunction } from 'rxjs';
import type { SourceEntry } from '../connector/source';
import { decodeRequest } from '../protocol/native/native-codec';
import { errorResult, type InferenceRequest, type InferenceResult } from '../tensor/records';
import { toClusterServingError } from '../errors';

export interface DecodeNativeOptions {
  /** Larger payloads get an error result without being parsed. */
  readonly maxRequestBytes: number;
  /**
   * Whether a request's reply stream key is acceptable (the job's reply namespace); a request naming any
   * other key gets a CS_ERR_BAD_REQUEST result at its default result key and no reply. @default any key
   */
  readonly acceptReplyTo?: (key: string) => boolean;
  /** What the reply namespace looks like, for the error message. */
  readonly replyNamespace?: string;
  /** Clock for `receivedAt` (performance.now by default). */
  readonly now?: () => number;
}

/**
 * Decodes native-protocol entries. A bad entry becomes an error result for that entry alone; the
 * stream never errors because of its input.
 */
export function decodeNative(options: DecodeNativeOptions): OperatorFunction<SourceEntry, InferenceRequest | InferenceResult> {
  const now = options.now ?? (() => performance.now());
  return map((entry): InferenceRequest | InferenceResult => {
    const receivedAt = now();
    const ref = { split: entry.split, entryId: entry.entryId };
    const uri = entry.uri || entry.entryId;
    if (entry.data.byteLength > options.maxRequestBytes) {
      return errorResult({ uri, ref, replyTo: undefined, receivedAt }, { code: 'CS_ERR_BAD_REQUEST', message: `request of ${entry.data.byteLength} bytes exceeds decode.maxRequestBytes (${options.maxRequestBytes})` });
    }
    try {
      const { inputs, replyTo } = decodeRequest(entry.data);
      if (replyTo !== undefined && options.acceptReplyTo && !options.acceptReplyTo(replyTo)) {
        const shown = replyTo.length > 100 ? `${replyTo.slice(0, 100)}…` : replyTo;
        return errorResult({ uri, ref, replyTo: undefined, receivedAt }, { code: 'CS_ERR_BAD_REQUEST', message: `replyTo ${JSON.stringify(shown)} is not a reply stream of this job (${options.replyNamespace ?? 'its reply namespace'})` });
      }
      if (!entry.uri) return errorResult({ uri, ref, replyTo, receivedAt }, { code: 'CS_ERR_BAD_REQUEST', message: 'stream entry has no uri field' });
      return { kind: 'request', uri, ref, replyTo, inputs, receivedAt };
    } catch (err) {
      const e = toClusterServingError(err, 'CS_ERR_BAD_REQUEST');
      return errorResult({ uri, ref, replyTo: undefined, receivedAt }, { code: e.code, message: e.message });
    }
  });
}
