import type { TopologySource } from '../src/cluster-api/dto';
import { checkTopologyInChild } from '../src/topology/check-topology-in-child';
import { codeTopologyRefused, isCodeTopology } from '../src/topology/code-topology-permission';
import { loadTopologySource } from '../src/topology/load-topology';
import type { TopologySpec } from '../src/topology/schema';

/** What a {@link TopologyValidator} needs. */
export interface TopologyValidatorOptions {
  /** Whether TypeScript topologies are accepted at all (`--allow-code-topologies`). */
  readonly allowCodeTopologies: boolean;
  /** Where submitted sources are written to be loaded. */
  readonly cacheDir: string;
  /** Time limit of one TypeScript check, in ms. @default 120000 */
  readonly timeoutMs?: number;
  /** Heap limit of the checking child, in MB. @default 1024 */
  readonly maxMemoryMb?: number;
  /** TypeScript checks that run at once; more wait their turn. @default 2 */
  readonly maxConcurrent?: number;
}

/**
 * How the JobManager validates topologies: YAML in this process (data only; sizes and aliases are
 * limited by the parser), TypeScript only when allowed (CS_ERR_FORBIDDEN otherwise) and then in a child
 * process with a time and a memory limit ({@link checkTopologyInChild}), a few at a time, so neither the
 * compiler nor the topology's code ever runs on the JobManager's event loop.
 */
export class TopologyValidator {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly options: TopologyValidatorOptions) {}

  async validate(source: TopologySource, opts: { readonly typecheck: boolean }): Promise<TopologySpec> {
    if (!isCodeTopology(source.filename)) return (await loadTopologySource(source, this.options.cacheDir)).topology.spec;
    if (!this.options.allowCodeTopologies) throw codeTopologyRefused(source.filename, 'JobManager');
    await this.turn();
    try {
      return await checkTopologyInChild(source, {
        cacheDir: this.options.cacheDir,
        typecheck: opts.typecheck,
        ...(this.options.timeoutMs !== undefined ? { timeoutMs: this.options.timeoutMs } : {}),
        ...(this.options.maxMemoryMb !== undefined ? { maxMemoryMb: this.options.maxMemoryMb } : {}),
      });
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes straight to the next check
      else this.running -= 1;
    }
  }

  private async turn(): Promise<void> {
    if (this.running < (this.options.maxConcurrent ?? 2)) this.running += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
}
