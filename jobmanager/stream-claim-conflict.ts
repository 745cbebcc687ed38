import { ClusterServingError } from '../src/errors';

/**
 * A submit whose data stream another live cluster on the same Redis already reads: the REST API answers
 * HTTP 409 with code CS_ERR_BAD_REQUEST (two clusters' readers in one consumer group would take each
 * other's requests). Name another `source.stream`, or submit to the cluster that holds it.
 */
export class StreamClaimConflict extends ClusterServingError {
  constructor(
    readonly stream: string,
    readonly owner: string,
    cluster: string,
  ) {
    super('CS_ERR_BAD_REQUEST', `stream "${stream}" is read by cluster "${owner}" on this Redis; cluster "${cluster}" cannot serve it too: choose another source.stream, or submit to cluster "${owner}"`);
  }
}
