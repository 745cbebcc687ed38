import type { JobState } from '../src/cluster-api/dto';
import { ClusterServingError } from '../src/errors';

/**
 * A request that the job's current state forbids, e.g. rescaling a canceled job: the REST API answers
 * HTTP 409 with code CS_ERR_BAD_REQUEST (the request is well-formed, the job just cannot take it now).
 */
export class JobStateConflict extends ClusterServingError {
  constructor(
    readonly jobId: string,
    readonly state: JobState,
    action: string,
  ) {
    super('CS_ERR_BAD_REQUEST', `job ${jobId} is ${state}: only a CREATED or RUNNING job can ${action}`, { context: { jobId } });
  }
}
