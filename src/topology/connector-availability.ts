import type { TopologySpec } from './schema';

/** Source and sink types this build can run (the schema knows more: `kafka` is planned, SPEC §1). */
export const AVAILABLE_CONNECTORS: readonly string[] = ['redis'];

/**
 * The topology's source and sink types that this build cannot run, as problems by field path; none
 * when both are available. Checked at submit, so such a job is refused before it is accepted (a
 * TaskManager would refuse it too, and fail the job).
 */
export function unavailableConnectors(spec: TopologySpec): string[] {
  const problems: string[] = [];
  const available = AVAILABLE_CONNECTORS.join(', ');
  if (!AVAILABLE_CONNECTORS.includes(spec.source.type)) problems.push(`source.type: ${spec.source.type} is not available yet (the ${spec.source.type} connector is not built; available: ${available})`);
  if (!AVAILABLE_CONNECTORS.includes(spec.sink.type)) problems.push(`sink.type: ${spec.sink.type} is not available yet (the ${spec.sink.type} connector is not built; available: ${available})`);
  return problems;
}
