import { extname } from 'node:path';
import { ClusterServingError } from '../errors/cluster-serving-error';

/** Whether a topology file is code (a TypeScript module) rather than data (YAML), by its name. */
export function isCodeTopology(filename: string): boolean {
  return extname(filename).toLowerCase() === '.ts';
}

/**
 * The CS_ERR_FORBIDDEN error of a TypeScript topology refused by a process (`JobManager`, `TaskManager`)
 * started without `--allow-code-topologies`: names the flag and what allowing it means.
 */
export function codeTopologyRefused(filename: string, processName: string): ClusterServingError {
  return new ClusterServingError(
    'CS_ERR_FORBIDDEN',
    `${filename}: TypeScript topologies are code, and this ${processName} does not run code from whoever submits jobs; ` +
      'submit a YAML topology, or start it with --allow-code-topologies (CS_ALLOW_CODE_TOPOLOGIES=1) if everyone who can submit jobs may run code on the cluster',
  );
}
