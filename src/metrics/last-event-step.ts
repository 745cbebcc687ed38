import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodeEvent } from './tf-event';
import { readRecords } from './tf-record';

/**
 * The largest step of the scalar Events already in a run directory's event files, or undefined when
 * there are none (no directory, no files, or only version records). Lets a writer opened again on a run
 * (a restarted JobManager, a job resubmitted into its named run) continue the steps instead of starting
 * over at 0, which TensorBoard would draw on top of the earlier points. Reads asynchronously; a file cut
 * short counts up to its last complete record, a file it cannot read is skipped.
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
    let bytes: Buffer;
    try {
      bytes = await readFile(join(dir, name));
    } catch {
      continue;
    }
    const { records } = readRecords(bytes);
    // Steps only grow within a file: its last scalar Event holds its largest.
    for (let i = records.length - 1; i >= 0; i -= 1) {
      const event = decodeEvent(records[i]!);
      if (event.scalars === undefined) continue;
      if (last === undefined || event.step > last) last = event.step;
      break;
    }
  }
  return last;
}
