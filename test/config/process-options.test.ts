import { strict as assert } from 'node:assert';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PROCESS_OPTIONS } from '../../src/config/process-options';
import { resolveProcessOptions } from '../../src/config/resolve-process-options';
import { ConfigError } from '../../src/errors';

describe('resolveProcessOptions', () => {
  it('takes the flag, else the environment variable, else the default', () => {
    const env = { CS_JOBMANAGER_PORT: '9000', CS_REDIS_URL: 'redis://cache:6380' };
    const opts = resolveProcessOptions(['port', 'redisUrl', 'slots', 'cacheDir', 'taskManagerId'], { values: { redisUrl: 'redis://flag:1' }, env });
    assert.deepEqual(
      { ...opts },
      { port: 9000, redisUrl: 'redis://flag:1', slots: 1, cacheDir: join(tmpdir(), 'cluster-serving'), taskManagerId: undefined },
    );
  });

  it('returns a frozen object', () => {
    const opts = resolveProcessOptions(['port'], { env: {} });
    assert.equal(Object.isFrozen(opts), true);
  });

  it('lists every problem at once, naming the flag or the variable it came from', () => {
    try {
      resolveProcessOptions(['port', 'slots', 'jobmanagerUrl', 'heartbeatIntervalMs'], {
        values: { port: '70000', slots: '0' },
        env: { CS_JOBMANAGER_URL: 'ftp://x', CS_HEARTBEAT_INTERVAL_MS: '1.5' },
      });
      assert.fail('expected a ConfigError');
    } catch (err) {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.code, 'CS_ERR_CONFIG');
      assert.equal(err.problems.length, 4, err.problems.join('\n'));
      assert.match(err.problems[0]!, /^--port "70000": must be a port/);
      assert.match(err.problems[1]!, /^--slots "0": must be a count/);
      assert.match(err.problems[2]!, /^CS_JOBMANAGER_URL="ftp:\/\/x": must start with http:\/\/ or https:\/\//);
      assert.match(err.problems[3]!, /^CS_HEARTBEAT_INTERVAL_MS="1.5"/);
    }
  });

  it('requires the heartbeat timeout to be longer than the interval', () => {
    assert.throws(
      () => resolveProcessOptions(['heartbeatIntervalMs', 'heartbeatTimeoutMs'], { values: { heartbeatIntervalMs: 5000, heartbeatTimeoutMs: 5000 }, env: {} }),
      (err: unknown) => err instanceof ConfigError && /--heartbeat-timeout-ms \(5000\) must be larger than --heartbeat-interval-ms \(5000\)/.test(err.message),
    );
  });

  it('leaves the gRPC API off unless --grpc-port or CS_JOBMANAGER_GRPC_PORT sets it, on a port other than the REST one', () => {
    assert.equal(resolveProcessOptions(['port', 'grpcPort'], { env: {} }).grpcPort, undefined);
    assert.equal(resolveProcessOptions(['grpcPort'], { env: { CS_JOBMANAGER_GRPC_PORT: '8001' } }).grpcPort, 8001);
    assert.equal(resolveProcessOptions(['grpcPort'], { values: { grpcPort: '0' }, env: { CS_JOBMANAGER_GRPC_PORT: '8001' } }).grpcPort, 0);
    assert.deepEqual(resolveProcessOptions(['port', 'grpcPort'], { values: { port: '0', grpcPort: '0' }, env: {} }), { port: 0, grpcPort: 0 });
    assert.throws(
      () => resolveProcessOptions(['port', 'grpcPort'], { values: { port: '9000', grpcPort: '9000' }, env: {} }),
      (err: unknown) => err instanceof ConfigError && /--grpc-port \(9000\) must differ from --port/.test(err.message),
    );
  });

  it('takes a short cluster name of letters, digits, - and _, "default" unless given', () => {
    assert.equal(resolveProcessOptions(['cluster'], { env: {} }).cluster, 'default');
    assert.equal(resolveProcessOptions(['cluster'], { env: { CS_CLUSTER: 'blue_2-b' } }).cluster, 'blue_2-b');
    for (const bad of ['', 'has space', 'a:b', 'br{ace}', 'x'.repeat(33)]) {
      assert.throws(
        () => resolveProcessOptions(['cluster'], { values: { cluster: bad }, env: {} }),
        (err: unknown) => err instanceof ConfigError && /^--cluster ".*": must be letters, digits, "-" or "_" \(1 to 32\)$/.test(err.problems[0] ?? ''),
        JSON.stringify(bad),
      );
    }
  });

  it('has one distinct flag and one CS_* variable per option', () => {
    const specs = Object.values(PROCESS_OPTIONS);
    assert.equal(new Set(specs.map((s) => s.flag)).size, specs.length);
    assert.equal(new Set(specs.map((s) => s.env)).size, specs.length);
    for (const s of specs) assert.match(s.env, /^CS_[A-Z_]+$/);
  });
});
