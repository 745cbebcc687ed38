import type { SourceEntry } from './source';

/** The fields a stream entry may carry besides `uri` and `data`, per protocol. */
const EXTRA_FIELDS: Readonly<Record<'native' | 'bigdl', ReadonlySet<string>>> = {
  native: new Set(),
  // Analytics Zoo's clients tagged entries with `serde`; it says nothing the payload does not.
  bigdl: new Set(['serde']),
};

/**
 * Why a stream entry cannot be used at all, before any decoding: it has no `uri` (its result would have
 * no name a client could ask for), no `data`, or fields the protocol does not define (a writer using other
 * field names would otherwise have its requests served half-read or not at all). Undefined for an entry
 * worth decoding. Such an entry goes to the job's dead-letter stream with this reason, never silently away.
 *
 * @example
 * unusableEntryReason({ split: 's', entryId: '1-0', uri: '', data: bytes }, 'native'); // → 'no uri field'
 */
export function unusableEntryReason(entry: SourceEntry, protocol: 'native' | 'bigdl'): string | undefined {
  if (entry.extra === undefined && entry.uri !== '' && entry.data.byteLength > 0) return undefined; // every request a client sends
  const problems: string[] = [];
  if (entry.uri === '') problems.push('no uri field');
  if (entry.data.byteLength === 0) problems.push('no data field');
  const allowed = EXTRA_FIELDS[protocol];
  const unknown = [...(entry.extra?.keys() ?? [])].filter((name) => !allowed.has(name));
  if (unknown.length > 0) problems.push(`unknown field${unknown.length === 1 ? '' : 's'} ${unknown.map((n) => JSON.stringify(n.slice(0, 64))).slice(0, 8).join(', ')} (a ${protocol} request has only uri and data)`);
  return problems.length > 0 ? problems.join('; ') : undefined;
}
