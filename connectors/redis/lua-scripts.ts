import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type Redis from 'ioredis';
import { packageRoot } from '../../src/package-root';

/**
 * Registers every script of `lua/` on a connection as a custom command named after the file (the part
 * before `-<numKeys>`; no suffix means the caller passes the key count). ioredis's defineCommand gives
 * EVALSHA with an EVAL fallback, so there is no loader of our own beyond reading the folder.
 */
export function defineLuaScripts(redis: Redis): void {
  const dir = join(packageRoot(), 'connectors', 'redis', 'lua');
  for (const file of readdirSync(dir)) {
    const m = /^([A-Za-z]+)(?:-(\d+))?\.lua$/.exec(file);
    if (!m) continue;
    const name = m[1]!;
    if ((redis as unknown as Record<string, unknown>)[name]) continue;
    redis.defineCommand(name, { lua: readFileSync(join(dir, file), 'utf8'), numberOfKeys: m[2] === undefined ? undefined : Number(m[2]) });
  }
}

/** The typed handles of the scripts above. */
export interface LuaCommands {
  /** See lua/writeResultsAndAck.lua. Args: numKeys, ...keys, ...argv. */
  writeResultsAndAck(numKeys: number, ...args: (string | Buffer | number)[]): Promise<(number | string)[]>;
  /** See lua/parkPoisonAndAck-5.lua. Args: the 5 keys, then argv. */
  parkPoisonAndAck(...args: (string | Buffer | number)[]): Promise<number>;
}

export function lua(redis: Redis): LuaCommands {
  return redis as unknown as LuaCommands;
}
