import { ModelDirectories } from '../src/cluster-api/model-directories';
import { ClusterServingError, TopologyError, toClusterServingError } from '../src/errors';
import type { Logger } from '../src/logging/logger';
import { readOnnxModelInfo, type OnnxModelInfo } from '../src/runtime/onnx-model-info';
import { unavailableConnectors } from '../src/topology/connector-availability';
import { modelFitProblems } from '../src/topology/model-fit';
import type { TopologySpec } from '../src/topology/schema';
import type { ModelStore } from './state/model-store';

/** What {@link SubmitChecks} works with. */
export interface SubmitChecksOptions {
  /** The folders a topology's model path may point into. */
  readonly modelDirs: ModelDirectories;
  /** Keeps a copy of each submitted model to ship to the TaskManagers; without it, the path is read where it is. */
  readonly models?: ModelStore;
  readonly logger: Logger;
}

/** A submission that passed: the model the job runs and what it declares. */
export interface CheckedSubmission {
  /** SHA-256 of the JobManager's copy of the model; undefined when it keeps no copies. */
  readonly modelSha256: string | undefined;
  readonly modelInfo: OnnxModelInfo;
}

/**
 * What the JobManager checks on `POST /jobs` once the topology itself is valid, so that a job that cannot
 * run is refused then, with every problem listed (TopologyError, HTTP 400), instead of failing on the
 * TaskManagers seconds later:
 *
 * - the source and sink types are available in this build (`kafka` is not yet);
 * - the model is there: uploaded before (`modelSha256`), or a readable file inside a model directory
 *   (copied into the model store by hash);
 * - it is an ONNX model, and the decode step makes what its inputs take (see modelFitProblems).
 *
 * A model named by a hash the JobManager does not hold is CS_ERR_BAD_REQUEST (a client that skipped
 * the upload), not a topology problem.
 */
export class SubmitChecks {
  private readonly log: Logger;

  constructor(private readonly options: SubmitChecksOptions) {
    this.log = options.logger.child({ component: 'jobmanager.jobs' });
  }

  async check(spec: TopologySpec, uploaded: string | undefined): Promise<CheckedSubmission> {
    const problems = unavailableConnectors(spec);
    const model = await this.locateModel(spec, uploaded);
    let modelInfo: OnnxModelInfo | undefined;
    if ('problem' in model) {
      problems.push(model.problem);
    } else {
      try {
        modelInfo = await readOnnxModelInfo(model.path);
        problems.push(...modelFitProblems(spec, modelInfo));
      } catch (err) {
        const shown = uploaded !== undefined ? `the uploaded model (${uploaded.slice(0, 12)}…, from ${spec.model.path})` : spec.model.path;
        problems.push(`model.path: ${shown} cannot be loaded: ${toClusterServingError(err).message}`);
      }
    }
    if (problems.length > 0 || !modelInfo || 'problem' in model) throw new TopologyError(problems);
    return { modelSha256: model.sha256, modelInfo };
  }

  /** The model file the job runs (the JobManager's copy when it keeps one), or why there is none. */
  private async locateModel(spec: TopologySpec, uploaded: string | undefined): Promise<{ path: string; sha256: string | undefined } | { problem: string }> {
    const { models, modelDirs } = this.options;
    if (uploaded !== undefined) {
      const held = await models?.file(uploaded);
      if (!held) throw new ClusterServingError('CS_ERR_BAD_REQUEST', `model ${uploaded} is not on the JobManager: upload it first (PUT /models/${uploaded}; cs job submit does)`);
      return { path: held.path, sha256: uploaded };
    }
    const path = spec.model.path;
    const where = await modelDirs.locate(path);
    if (where.kind === 'outside') {
      if (modelDirs.dirs.length === 0) return { problem: `model.path: ${path} was not uploaded with the job (cs job submit uploads it when the file is readable where it runs), and this JobManager reads no model directories (--model-dir)` };
      return { problem: `model.path: ${path} is not a file inside the JobManager's model directories (${modelDirs.describe()}); upload the model with the job (cs job submit does when the file is readable where it runs) or start the JobManager with --model-dir DIR` };
    }
    if (where.kind === 'missing') return { problem: `model.path: ${path}: no such file (inside the JobManager's model directories ${modelDirs.describe()})` };
    if (!models) return { path: where.path, sha256: undefined };
    try {
      const { sha256, bytes } = await models.store(where.path);
      this.log.info({ job: spec.name, model: where.path, sha256, bytes }, 'jobmanager.model.stored');
      const held = await models.file(sha256);
      return { path: held?.path ?? where.path, sha256 };
    } catch (err) {
      return { problem: `model.path: ${path} cannot be read: ${err instanceof Error ? err.message : String(err)}` };
    }
  }
}
