import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

let cached: string | undefined;

/**
 * The folder of this package's package.json (named "cluster-serving"), found by walking up from this
 * file, so the same code works compiled under dist/ and from src/ under ts-node.
 */
export function packageRoot(): string {
  if (cached) return cached;
  let dir = __dirname;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      const { name } = JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string };
      if (name === 'cluster-serving') return (cached = dir);
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the cluster-serving package root above ${__dirname}`);
    dir = up;
  }
}
