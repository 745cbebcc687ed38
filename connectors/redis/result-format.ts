import type { InferenceResult } from '../../src/tensor/records';
import { resultKey } from '../../src/cluster-api/keys';
import { encodeResult } from '../../src/protocol/native/native-codec';
import { BIGDL_FAILURE, encodeBigdlResult } from '../../src/protocol/bigdl/bigdl-result';
import type { Tensor } from '../../src/tensor/tensor';

/** Where a protocol stores a result and what it stores (the hash field is always `value`). */
export interface ResultFormat {
  key(uri: string): string;
  encode(result: Pick<InferenceResult, 'uri' | 'outputs' | 'error'>): Buffer | string;
}

/** The native protocol: `<stream>:result:<uri>` holds a version byte + Avro Result. */
export function nativeResultFormat(stream: string): ResultFormat {
  return {
    key: (uri) => resultKey(stream, uri),
    encode: (r) => encodeResult(r.uri, r.outputs, r.error),
  };
}

/** The key BigDL clients read a result from. */
export function bigdlResultKey(jobName: string, uri: string): string {
  return `cluster-serving_${jobName}:${uri}`;
}

/**
 * The BigDL protocol (reference/bigdl-protocol.md): `cluster-serving_<name>:<uri>` holds base64 Arrow,
 * one record batch per output, or the literal `NaN` on any failure. With the 0.11 convention each
 * output loses the batch dimension the server added.
 */
export function bigdlResultFormat(jobName: string, convention: '2.x' | '0.11'): ResultFormat {
  const strip = (t: Tensor): Tensor => (convention === '0.11' && t.shape.length > 1 && t.shape[0] === 1 ? { ...t, shape: t.shape.slice(1) } : t);
  return {
    key: (uri) => bigdlResultKey(jobName, uri),
    encode: (r) => (r.error || !r.outputs || r.outputs.size === 0 ? BIGDL_FAILURE : encodeBigdlResult([...r.outputs.values()].map(strip))),
  };
}
