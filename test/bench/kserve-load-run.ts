import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRedisServer } from '../../src/embedded/redis-server';
import { freePort } from '../../src/embedded/free-port';
import { packageRoot } from '../../src/package-root';
import { kserveBinaryLoad, kserveGrpcLoad, kserveJsonLoad, type LoadResult } from './kserve-load';

/**
 * Stand-alone KServe v2 load run: its own redis-server on a free port, then
 * `node bin/cs.js start topologies/tiny.yaml --redis <it> --port <free> --grpc-port <free>`, then JSON HTTP,
 * binary HTTP and gRPC closed-loop load, each for SECONDS after one unmeasured second, printed as one line
 * each with the CPU per request of the server, its Redis and this load generator (from /proc, Linux).
 *
 *   node dist/test/bench/kserve-load-run.js [seconds=5] [inFlight=64] [json,binary,grpc]
 */
/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const inFlight = Number(process.argv[3] ?? 64);
  const kinds = (process.argv[4] ?? 'json,binary,grpc').split(',');
  const redis = await startRedisServer();
  const [port, grpcPort] = [await freePort(), await freePort()];
  let child: ChildProcess | undefined;
  try {
    child = spawn(process.execPath, [...(process.env.CS_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), join(packageRoot(), 'bin', 'cs.js'), 'start', join(packageRoot(), 'topologies', 'tiny.yaml'), '--redis', redis.url, '--port', String(port), ...(kinds.includes('grpc') ? ['--grpc-port', String(grpcPort)] : [])], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, CS_LOG_LEVEL: 'warn' },
    });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child!.once('exit', (code) => reject(new Error(`cs start exited with ${code}: ${out}`)));
      child!.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready;')) resolve();
      });
    });
    const row = Float32Array.from({ length: 16 }, (_, i) => i / 16);
    const common = { model: 'tiny', input: 'input', row, inFlight };
    const url = `http://127.0.0.1:${port}`;
    const pids = { server: child.pid!, redis: redis.process.pid! };
    for (const kind of kinds) {
      const load = (secs: number): Promise<LoadResult> => {
        if (kind === 'json') return kserveJsonLoad({ ...common, seconds: secs, url });
        if (kind === 'binary') return kserveBinaryLoad({ ...common, seconds: secs, url });
        if (kind === 'grpc') return kserveGrpcLoad({ ...common, seconds: secs, address: `127.0.0.1:${grpcPort}` });
        throw new Error(`unknown load kind ${kind} (json, binary, grpc)`);
      };
      // One unmeasured second first: the server's JIT warms up on this kind of request.
      await load(1);
      const before = { server: cpuSeconds(pids.server), redis: cpuSeconds(pids.redis), self: process.cpuUsage() };
      const r = await load(seconds);
      const self = process.cpuUsage(before.self);
      // CPU per request over warm-up and window alike (the warm-up is small): µs of server, Redis and load generator.
      const total = r.requests + inFlight * 4;
      const us = (s: number): string => ((s * 1e6) / total).toFixed(0);
      console.log(
        `${kind.padEnd(7)} ${Math.round(r.rps)} req/s  p50 ${r.p50Ms.toFixed(2)} ms  p99 ${r.p99Ms.toFixed(2)} ms  (${r.requests} requests, ${inFlight} in flight)` +
          `  CPU µs/request: server ${us(cpuSeconds(pids.server) - before.server)}, redis ${us(cpuSeconds(pids.redis) - before.redis)}, load ${us((self.user + self.system) / 1e6)}`,
      );
    }
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGINT');
      await new Promise((resolve) => child!.once('exit', resolve));
    }
    await redis.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
