import { writeFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Command } from 'commander';
import { ClusterServingError } from '../../errors';
import type { CliOutput } from '../cli-output';

/** The starter topology `cs init` writes, for a job called `name` in a file called `filename`. */
export function starterTopology(name: string, filename = `${name}.yaml`): string {
  return `# A Cluster Serving topology (SPEC §4). Edit it, then run it on this machine:
#   cs start ${filename}
# or submit it to a cluster:
#   cs job submit ${filename} --jobmanager http://JOBMANAGER:8081
name: ${name}
source:
  type: redis            # or kafka (brokers, topic)
  # address: redis://127.0.0.1:6379   # defaults to the cluster's Redis (--redis / CS_REDIS_URL)
  # stream: ${name}      # defaults to the job name
  partitions: 1          # splits; subtasks share them round-robin
  protocol: native       # or bigdl, for the BigDL Cluster Serving Python client
decode:
  type: tensor           # or image (width, height, layout, channelOrder, mean, std)
batch:
  maxSize: 32            # a batch closes at this many requests…
  maxDelayMs: 5          # …or when its first request has waited this long
model:
  path: model.onnx       # relative to this file
  runtime: onnx
  threads: 1             # intra-op threads per session
  instances: 1           # sessions (worker threads) per slot
postprocess: none        # none | softmax | { type: topN, n: 5 }
sink:
  type: redis
  resultTtlMs: 600000    # how long a result stays readable
parallelism: 1           # subtasks (TaskManager slots) running the job
`;
}

/** A job name from a file name: `my model.yaml` → `my-model`. */
function nameFromFile(file: string): string {
  const stem = basename(file, extname(file)).replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return stem.slice(0, 100) || 'my-model';
}

/** `cs init [FILE]`: writes a starter YAML topology, never over an existing file. */
export function initCommand(output: CliOutput): Command {
  return new Command('init')
    .description('write a starter YAML topology (refuses to overwrite)')
    .argument('[file]', 'file to write', 'topology.yaml')
    .option('--name <name>', 'job name (default: from the file name)')
    .action(async (file: string, opts: { name?: string }) => {
      const name = opts.name ?? nameFromFile(file);
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(name)) {
        throw new ClusterServingError('CS_ERR_CONFIG', `--name "${name}": letters, digits, "-", "_" and "." only, at most 100`);
      }
      try {
        await writeFile(file, starterTopology(name, basename(file)), { flag: 'wx' });
      } catch (err) {
        const code = (err as { code?: string }).code;
        const reason = code === 'EEXIST' ? 'it already exists (not overwriting)' : code === 'ENOENT' ? 'no such folder' : (err as Error).message;
        throw new ClusterServingError('CS_ERR_CONFIG', `cannot write ${file}: ${reason}`, { cause: err });
      }
      output.out(`wrote ${file} (job "${name}"); put your model next to it as model.onnx, then: cs start ${file}`);
    });
}
