/**
 * The partition a uri's request goes to: FNV-1a of the uri modulo the partition count, so every client
 * language routes the same uri to the same split. (Hand-written: 6 lines, and the exact function is
 * part of the protocol.)
 */
export function partitionOf(uri: string, partitions: number): number {
  if (partitions <= 1) return 0;
  let h = 0x811c9dc5;
  for (let i = 0; i < uri.length; i++) {
    h ^= uri.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}
