import type { JobStatus, ModelStatus } from '../src/cluster-api/dto';
import type { OnnxModelInfo, OnnxTensorInfo } from '../src/runtime/onnx-model-info';
import type { JobRecord } from './state/job-store';

/** The public view of a stored job. */
export function toJobStatus(job: JobRecord): JobStatus {
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    parallelism: job.parallelism,
    submittedAt: job.submittedAt,
    filename: job.filename,
    subtasks: job.subtasks,
    ...(job.failure !== undefined ? { failure: job.failure } : {}),
    ...(job.failureCode !== undefined ? { failureCode: job.failureCode } : {}),
    ...(job.finishedAt !== undefined ? { finishedAt: job.finishedAt } : {}),
  };
}

/** What the job's model declares, as job status shows it. */
export function toModelStatus(info: OnnxModelInfo): ModelStatus {
  const tensor = (t: OnnxTensorInfo) => ({ name: t.name, dtype: t.dtype ?? t.elemType, shape: t.shape });
  return { inputs: info.inputs.map(tensor), outputs: info.outputs.map(tensor) };
}
