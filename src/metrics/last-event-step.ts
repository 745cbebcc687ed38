import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeEvent } from './tf-event';
import { readRecords } from './tf-record';

/** How much of each file's end is read: many records (a sample's Event is a few hundred bytes). */
const TAIL_BYTES = 256 * 1024;

/**
 * The largest step of the scalar Events already in a run directory's event files, or undefined when
 * there are none (no directory, no files, or only version records). Lets a writer opened again on a run
 * (a restarted JobManager, a job resubmitted into its named run) continue the steps instead of starting
 * over at 0, which TensorBoard would draw on top of the earlier points.
 *
 * Steps only grow within a file, so only each file's last records matter: it reads the last 256 KiB of
 * each (a file of weeks of samples is not read whole), finds the first record boundary in them by the
 * records' own checksums, and takes the last scalar Event after it. A file cut short counts up to its last
 * complete record; a file it cannot read is skipped.
 */
export async function lastEventStep(dir: string): Promise<number | undefined> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.startsWith('events.out.tfevents.'));
  } catch {
    return undefined;
  }
  let last: number | undefined;
  for (const name of names) {
    const step = await lastStepOfFile(join(dir, name)).catch(() => undefined);
    if (step !== undefined && (last === undefined || step > last)) last = step;
  }
  return last;
}

async function lastStepOfFile(path: string): Promise<number | undefined> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const length = Math.min(size, TAIL_BYTES);
    const tail = Buffer.alloc(length);
    await file.read(tail, 0, length, size - length);
    // The whole file starts at a record; a tail starts mid-record: the first offset from which records
    // parse with matching checksums is a boundary (a false match needs two 32-bit CRCs to agree by chance).
    for (let offset = 0; offset < (length === size ? 1 : length); offset += 1) {
      const { records } = readRecords(tail.subarray(offset));
      if (records.length === 0) continue;
      for (let i = records.length - 1; i >= 0; i -= 1) {
        const event = decodeEvent(records[i]!);
        if (event.scalars !== undefined) return event.step;
      }
      return undefined;
    }
    return undefined;
  } finally {
    await file.close();
  }
}
