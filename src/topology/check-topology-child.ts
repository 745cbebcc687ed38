import type { TopologySource } from '../cluster-api/dto';
import { TopologyError } from '../errors/cluster-serving-error';
import type { TopologySpec } from './schema';
import { loadTopologySource } from './load-topology';

/*
 * The child process of {@link checkTopologyInChild}: type-checks (when asked) and loads ONE topology, then
 * answers its spec over IPC and exits. Whatever the topology's code does (loops, allocates, never lets the
 * process go idle), it does it here, never on the JobManager's event loop; the parent kills this process
 * past its time limit, and `--max-old-space-size` bounds its heap.
 */

/** What the parent sends. */
export interface CheckTopologyRequest {
  readonly source: TopologySource;
  /** Where the source is written to be loaded. */
  readonly cacheDir: string;
  readonly typecheck: boolean;
}

/** What the child answers. */
export type CheckTopologyReply =
  | { readonly ok: true; readonly spec: TopologySpec }
  | { readonly ok: false; readonly problems: readonly string[] }
  | { readonly ok: false; readonly message: string };

async function check(request: CheckTopologyRequest): Promise<CheckTopologyReply> {
  try {
    const loaded = await loadTopologySource(request.source, request.cacheDir, { typecheck: request.typecheck });
    return { ok: true, spec: loaded.topology.spec };
  } catch (err) {
    if (err instanceof TopologyError) return { ok: false, problems: err.problems };
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

if (require.main === module && typeof process.send === 'function') {
  process.once('message', (request: CheckTopologyRequest) => {
    void check(request).then((reply) => {
      // The topology's code may have left timers or sockets open: exit once the answer is out.
      process.send?.(reply, undefined, {}, () => process.exit(0));
    });
  });
}
