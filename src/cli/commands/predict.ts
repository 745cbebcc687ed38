import { Command, Option } from 'commander';
import { asClientError } from '../client-error';
import type { CliOutput } from '../cli-output';
import { openInputQueue } from '../open-input-queue';
import { formatOutputs, outputsToJson } from '../format-outputs';
import { addTargetFlags, targetFlags } from '../job-target-flags';
import { readRequestInputs } from '../request-inputs';
import { resolveServingTarget } from '../serving-target';

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * `cs predict JOB FILE | --input NAME=FILE …`: sends one request to a running job (found through the
 * JobManager, or `--stream` directly) with the TypeScript client and prints its outputs; an error result
 * is one line (`error: <message> (<code>)`) and exit code 1.
 */
export function predictCommand(output: CliOutput): Command {
  const predict = addTargetFlags(
    new Command('predict').description('send one request to a running job and print its outputs (a .npy, .json, image or raw file per input)'),
    DEFAULT_TIMEOUT_MS,
  )
    .addOption(new Option('--full', 'print every value of every output (large outputs are summarised otherwise)').env('CS_PREDICT_FULL'))
    .addOption(new Option('--json', 'print the outputs as one JSON object: {"outputs": {name: {dtype, shape, data}}}').env('CS_PREDICT_JSON'));
  predict.action(async (job: string | undefined, file: string | undefined) => {
    const flags = targetFlags(predict, job, file);
    const { full, json } = predict.opts<{ full?: boolean; json?: boolean }>();
    const target = await resolveServingTarget(flags.ref, flags.options);
    const inputs = await readRequestInputs(flags.inputs, target, flags.fileFlags);
    const queue = await openInputQueue(target);
    try {
      const outputs = await queue.predict(inputs, { timeoutMs: flags.timeoutMs }).catch((err: unknown) => {
        throw asClientError(err, target.redisUrl);
      });
      if (json) output.out(JSON.stringify(outputsToJson(outputs)));
      else for (const line of formatOutputs(outputs, { full: full === true })) output.out(line);
    } finally {
      await queue.close();
    }
  });
  return predict;
}
