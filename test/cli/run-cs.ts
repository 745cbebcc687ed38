import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root';

/** `bin/cs.js`, which runs the compiled CLI in dist/ (build with `npx tsc -p .` first). */
export function csBin(): string {
  const root = packageRoot();
  const compiled = join(root, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(compiled)) throw new Error(`${compiled} is missing: compile with "npx tsc -p ." before running the CLI tests`);
  return join(root, 'bin', 'cs.js');
}

/** The environment of a `cs` child: no CS_* variable of ours leaks in, logs are off unless asked. */
export function csEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('CS_')) env[k] = v;
  return { ...env, CS_LOG_LEVEL: process.env.CS_TEST_LOG_LEVEL ?? 'silent', ...extra };
}

export interface CsResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node bin/cs.js ...args` to completion (asynchronously, so an in-process JobManager can answer it). */
export function runCs(args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CsResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCs(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `node bin/cs.js ...args` and leaves it running. */
export function spawnCs(args: readonly string[], options: { env?: Record<string, string>; cwd?: string } = {}): ChildProcess {
  return spawn(process.execPath, [csBin(), ...args], { env: csEnv(options.env), cwd: options.cwd ?? process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Lines of a stream's text, without the final empty one. */
export function lines(text: string): string[] {
  return text.split('\n').filter((l, i, all) => !(i === all.length - 1 && l === ''));
}

/** True when the text looks like a stack trace. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at .+[:(]/m.test(text);
}
