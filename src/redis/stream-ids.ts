/**
 * Redis Stream id arithmetic (`<ms>-<seq>`, both unsigned 64-bit decimals without leading zeros; a bare
 * `<ms>` counts as `<ms>-0`). Exact: sequence numbers may exceed 2^53.
 */

/** Compares two stream ids: negative, zero or positive like `Array.prototype.sort` wants. */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  return compareDecimal(am, bm) || compareDecimal(as, bs);
}

function compareDecimal(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

const MAX_SEQ = 2n ** 64n - 1n;

function parse(id: string): [bigint, bigint] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(id);
  return m ? [BigInt(m[1]!), BigInt(m[2] ?? '0')] : undefined;
}

/** The smallest id after `id` (XTRIM MINID keeps ids ≥ the given one); undefined for a malformed id. */
export function nextStreamId(id: string): string | undefined {
  const p = parse(id);
  if (!p) return undefined;
  const [ms, seq] = p;
  return seq < MAX_SEQ ? `${ms}-${seq + 1n}` : `${ms + 1n}-0`;
}

/** The largest id before `id` (`5-0` → `4-18446744073709551615`, `0-0` stays); undefined for a malformed id. */
export function previousStreamId(id: string): string | undefined {
  const p = parse(id);
  if (!p) return undefined;
  const [ms, seq] = p;
  if (seq > 0n) return `${ms}-${seq - 1n}`;
  return ms > 0n ? `${ms - 1n}-${MAX_SEQ}` : '0-0';
}
