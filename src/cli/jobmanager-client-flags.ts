import type { Command } from 'commander';
import { JobManagerClient } from '../cluster-api/jobmanager-client';
import { JOBMANAGER_CLIENT_OPTION_NAMES } from '../config/process-options';
import { readJobManagerAccess } from '../config/read-jobmanager-access';
import { resolveProcessOptions } from '../config/resolve-process-options';
import { addProcessOptions, processOptionValues } from './process-option-flags';

/** Adds `--jobmanager`, `--token`, `--token-file` and `--ca` (each also read from its CS_* variable). */
export function addJobManagerClientFlags(command: Command): Command {
  return addProcessOptions(command, JOBMANAGER_CLIENT_OPTION_NAMES);
}

/** The JobManager client those flags (after parsing) describe: URL, token (from the flag, env or file) and CA. */
export function jobManagerClientFromFlags(command: Command): JobManagerClient {
  const options = resolveProcessOptions(JOBMANAGER_CLIENT_OPTION_NAMES, { values: processOptionValues(command, JOBMANAGER_CLIENT_OPTION_NAMES) });
  return new JobManagerClient(options.jobmanagerUrl, readJobManagerAccess(options));
}
