import { ClusterServingError, TopologyError } from '../errors';

/**
 * The lines a CLI error prints on stderr: one line `error: <message> (<code>)`, and for an invalid
 * topology or invalid options that line followed by every problem, one per line. Never a stack trace,
 * unless CS_DEBUG is set (for bugs, not user mistakes).
 */
export function formatCliError(err: unknown): string[] {
  if (err instanceof TopologyError) {
    return [`error: invalid topology (${err.code})`, ...err.problems.map((p) => `  - ${p}`)];
  }
  if (err instanceof ClusterServingError) {
    const problems = (err as ClusterServingError & { problems?: readonly string[] }).problems;
    if (problems && problems.length > 1) return [`error: invalid options (${err.code})`, ...problems.map((p) => `  - ${p}`)];
    return [`error: ${err.message.split('\n')[0]} (${err.code})`];
  }
  const message = err instanceof Error ? err.message : String(err);
  const lines = [`error: internal error: ${message.split('\n')[0]} (CS_ERR_INTERNAL)`];
  if (process.env.CS_DEBUG && err instanceof Error && err.stack) lines.push(err.stack);
  return lines;
}
