/**
 * The registry of every error code the product emits. The same codes appear in error results on the wire
 * (`{code, message}`), in REST error bodies and in the CLI's one-line errors. `docs` is what a user reads;
 * a test checks every code is documented in ARCHITECTURE.md's error table.
 */
export const ERROR_CODES = {
  CS_ERR_CONFIG: { retriable: false, docs: 'A process option or environment variable is invalid.' },
  CS_ERR_TOPOLOGY: { retriable: false, docs: 'A topology file is invalid; every problem is listed by field path or TypeScript diagnostic.' },
  CS_ERR_BAD_REQUEST: { retriable: false, docs: 'A request could not be decoded (malformed Avro, unknown dtype, byte length not matching the shape).' },
  CS_ERR_SHAPE: { retriable: false, docs: 'A request tensor has the wrong name, rank, size or dtype for the model.' },
  CS_ERR_INFERENCE: { retriable: false, docs: 'The model runtime failed on this request.' },
  CS_ERR_USER_OPERATOR: { retriable: false, docs: 'A user-defined operator of the topology threw for this request.' },
  CS_ERR_TIMEOUT: { retriable: true, docs: 'No result arrived before the client deadline.' },
  CS_ERR_CONNECTOR: { retriable: true, docs: 'A source or sink could not reach its server.' },
  CS_ERR_NOT_FOUND: { retriable: false, docs: 'A job, TaskManager or resource does not exist.' },
  CS_ERR_MODEL_LOAD: { retriable: false, docs: 'A model file could not be read or loaded by the runtime.' },
  CS_ERR_POISON: { retriable: false, docs: 'A request was delivered more than source.maxDeliveries times without a result (it kept failing or crashing its reader); it is parked in the dead-letter stream `<stream>:dead-letter`.' },
  CS_ERR_UNAUTHENTICATED: { retriable: false, docs: 'The JobManager requires a bearer token (Authorization: Bearer <token>; gRPC metadata authorization) and the request had none or a wrong one.' },
  CS_ERR_FENCED: { retriable: false, docs: 'A subtask wrote with an older epoch than the JobManager last assigned (it was declared lost and its subtask moved); nothing was written, and the subtask stops.' },
  CS_ERR_CLOSED: { retriable: false, docs: 'The component was closed while the operation was pending.' },
  CS_ERR_FORBIDDEN: { retriable: false, docs: "The cluster's configuration does not allow this (e.g. a TypeScript topology on a JobManager or TaskManager started without --allow-code-topologies)." },
  CS_ERR_INTERNAL: { retriable: false, docs: 'An unexpected failure inside the server; the message says where.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: string): value is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}
