import { InvalidArgumentError, Option, type Command } from 'commander';
import { resolveProcessOptions } from '../config/resolve-process-options';
import { REDIS_SECURITY_OPTION_NAMES } from '../config/process-options';
import { redisSecurityOf, setProcessRedisSecurity } from '../redis/redis-security';
import { DTYPES, isDType, type DType } from '../tensor/tensor';
import { addProcessOptions, processOptionValues } from './process-option-flags';
import type { TargetOptions, TargetRef } from './serving-target';
import type { InputFileFlags } from './tensor-files/read-input-file';
import { ClusterServingError } from '../errors';

const TARGET_OPTION_NAMES = ['jobmanagerUrl', 'redisUrl', 'cacheDir', 'token', 'tokenFile', 'caFile', ...REDIS_SECURITY_OPTION_NAMES] as const;

/** A whole number in [min, max], for commander. */
export function integerFlag(min: number, max: number): (value: string) => number {
  return (value) => {
    const n = /^\s*\d+\s*$/.test(value) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}.`);
    return n;
  };
}

/** A positive number of seconds (fractions allowed), for commander. */
export function secondsFlag(min: number): (value: string) => number {
  return (value) => {
    const n = /^\s*\d+(\.\d+)?\s*$/.test(value) ? Number(value) : NaN;
    if (!(n >= min) || n > 86_400) throw new InvalidArgumentError(`must be a number of seconds from ${min} to 86400.`);
    return n;
  };
}

function parseDtype(value: string): DType {
  const v = value.trim().toLowerCase();
  if (!isDType(v)) throw new InvalidArgumentError(`must be one of ${DTYPES.join(', ')}.`);
  return v;
}

function parseShape(value: string): number[] {
  const text = value.trim().replace(/^[[(]|[\])]$/g, '');
  const dims = text === '' ? [] : text.split(/\s*[,x]\s*/).map((d) => (/^\d+$/.test(d) ? Number(d) : NaN));
  if (dims.some((d) => !Number.isInteger(d))) throw new InvalidArgumentError('must be sizes separated by commas, e.g. 1,16 (or [] for a scalar).');
  return dims;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** The flags both `cs predict` and `cs bench` take, as commander parsed them. */
interface TargetFlagValues {
  readonly stream?: string;
  readonly partitions?: number;
  readonly input?: string[];
  readonly dtype?: DType;
  readonly shape?: number[];
  readonly timeoutMs?: number;
}

/**
 * Adds what `cs predict` and `cs bench` share: the optional `[job]` and `[file]` arguments, `--input`,
 * `--dtype`, `--shape`, `--stream`, `--partitions`, `--timeout-ms`, and `--jobmanager`, `--redis`,
 * `--cache-dir`, `--token`, `--token-file`, `--ca` from the process options table. Every flag reads a `CS_*` variable when absent.
 */
export function addTargetFlags(command: Command, defaultTimeoutMs: number): Command {
  command
    .argument('[job]', 'job id or name, as `cs job list` shows (omit with --stream)')
    .argument('[file]', 'input file for a single-input model: .npy, .json, .jpg/.jpeg/.png/.webp, or raw bytes')
    .addOption(new Option('--input <name=file>', 'an input file for the model input NAME (repeat for several inputs)').env('CS_INPUT').argParser(collect))
    .addOption(new Option('--dtype <dtype>', `element type of .json and raw inputs (default: the model input's): ${DTYPES.join(', ')}`).env('CS_INPUT_DTYPE').argParser(parseDtype))
    .addOption(new Option('--shape <dims>', 'shape of .json and raw inputs, e.g. 1,16 (default: the model input\'s, batch 1)').env('CS_INPUT_SHAPE').argParser(parseShape))
    .addOption(new Option('--stream <name>', 'send to this stream directly, without asking the JobManager (model inputs then unknown)').env('CS_STREAM'))
    .addOption(new Option('--partitions <n>', 'with --stream: its number of partitions').env('CS_STREAM_PARTITIONS').argParser(integerFlag(1, 1024)).default(1))
    .addOption(new Option('--timeout-ms <ms>', 'how long to wait for each result').env('CS_TIMEOUT_MS').argParser(integerFlag(1, 3_600_000)).default(defaultTimeoutMs));
  return addProcessOptions(command, TARGET_OPTION_NAMES);
}

/** What {@link addTargetFlags}' flags and arguments say. */
export interface TargetFlags {
  readonly ref: TargetRef;
  readonly options: TargetOptions;
  /** `--input` values and the positional FILE, as `NAME=FILE` or `FILE`. */
  readonly inputs: string[];
  readonly fileFlags: InputFileFlags;
  readonly timeoutMs: number;
}

/**
 * Reads the shared flags of `command` (after parsing) with its positional `[job] [file]`: with `--stream`
 * the positionals are files; without it the first is the job.
 */
export function targetFlags(command: Command, job: string | undefined, file: string | undefined): TargetFlags {
  const flags = command.opts<TargetFlagValues>();
  const options = resolveProcessOptions(TARGET_OPTION_NAMES, { values: processOptionValues(command, TARGET_OPTION_NAMES) });
  // The client's Redis connections use these TLS files and password (CS_REDIS_PASSWORD).
  setProcessRedisSecurity(redisSecurityOf(options));
  const inputs = [...(flags.input ?? [])];
  let ref: TargetRef;
  if (flags.stream !== undefined) {
    if (file !== undefined) throw new ClusterServingError('CS_ERR_CONFIG', `with --stream, give at most one positional FILE (got ${job} and ${file}); name inputs with --input NAME=FILE`);
    if (job !== undefined) inputs.unshift(job);
    ref = { stream: flags.stream, partitions: flags.partitions ?? 1 };
  } else {
    if (job === undefined) throw new ClusterServingError('CS_ERR_CONFIG', 'name a job (its id or name, see cs job list), or a stream with --stream NAME');
    if (file !== undefined) inputs.unshift(file);
    ref = { job };
  }
  return { ref, options, inputs, fileFlags: { dtype: flags.dtype, shape: flags.shape }, timeoutMs: flags.timeoutMs ?? 30_000 };
}
