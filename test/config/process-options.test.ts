import { strict as assert } from 'node:assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { JOBMANAGER_OPTION_NAMES, PROCESS_OPTIONS } from '../../src/config/process-options';
import { readJobManagerAccess, readToken } from '../../src/config/read-jobmanager-access';
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

  it('reads --tensorboard-dir or CS_TENSORBOARD_DIR as an absolute folder, off when neither is set, on cs jobmanager start and cs start', () => {
    assert.equal(resolveProcessOptions(['tensorboardDir'], { env: {} }).tensorboardDir, undefined);
    assert.equal(resolveProcessOptions(['tensorboardDir'], { env: { CS_TENSORBOARD_DIR: 'tb-logs' } }).tensorboardDir, resolve('tb-logs'));
    assert.equal(resolveProcessOptions(['tensorboardDir'], { values: { tensorboardDir: '/srv/tb' }, env: { CS_TENSORBOARD_DIR: 'other' } }).tensorboardDir, '/srv/tb');
    assert.equal(PROCESS_OPTIONS.tensorboardDir.flag, '--tensorboard-dir');
    assert.ok((JOBMANAGER_OPTION_NAMES as readonly string[]).includes('tensorboardDir'));
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

  it('reads --allow-code-topologies as a switch: off by default, on from the bare flag or CS_ALLOW_CODE_TOPOLOGIES=1', () => {
    assert.equal(resolveProcessOptions(['allowCodeTopologies'], { env: {} }).allowCodeTopologies, false);
    assert.equal(resolveProcessOptions(['allowCodeTopologies'], { values: { allowCodeTopologies: true }, env: {} }).allowCodeTopologies, true);
    assert.equal(resolveProcessOptions(['allowCodeTopologies'], { env: { CS_ALLOW_CODE_TOPOLOGIES: '1' } }).allowCodeTopologies, true);
    assert.equal(resolveProcessOptions(['allowCodeTopologies'], { env: { CS_ALLOW_CODE_TOPOLOGIES: 'no' } }).allowCodeTopologies, false);
    assert.throws(
      () => resolveProcessOptions(['allowCodeTopologies'], { env: { CS_ALLOW_CODE_TOPOLOGIES: 'maybe' } }),
      (err: unknown) => err instanceof ConfigError && /^CS_ALLOW_CODE_TOPOLOGIES="maybe": must be 1\/true\/yes\/on or 0\/false\/no\/off/.test(err.message),
    );
  });

  it('reads --model-dir as a list of absolute folders: repeated flags, or CS_MODEL_DIRS as a path list; none by default', () => {
    assert.deepEqual(resolveProcessOptions(['modelDirs'], { env: {} }).modelDirs, []);
    assert.deepEqual(resolveProcessOptions(['modelDirs'], { values: { modelDirs: ['/srv/models', 'rel'] }, env: {} }).modelDirs, ['/srv/models', resolve('rel')]);
    assert.deepEqual(resolveProcessOptions(['modelDirs'], { env: { CS_MODEL_DIRS: ['/a', '/b'].join(delimiter) } }).modelDirs, ['/a', '/b']);
  });
});

describe('access options: token, token file, --insecure, TLS and CA files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-access-options-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, '  s3cret-token\n');

  it('never shows a token in an error, from a flag or the env', () => {
    for (const input of [{ values: { token: 'has space' }, env: {} }, { env: { CS_TOKEN: 'has space' } }]) {
      try {
        resolveProcessOptions(['token'], input);
        assert.fail('expected a ConfigError');
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        assert.match(err.message, /^(--token|CS_TOKEN=)\s?\(hidden\): must be printable ASCII without spaces/);
        assert.equal(err.message.includes('has space'), false);
      }
    }
  });

  it('takes the token from --token, CS_TOKEN or the token file, and refuses both from one level (two flags or two variables)', () => {
    assert.equal(readToken(resolveProcessOptions(['token', 'tokenFile'], { env: { CS_TOKEN: 'abc' } })), 'abc');
    assert.equal(readToken(resolveProcessOptions(['token', 'tokenFile'], { env: { CS_TOKEN_FILE: tokenFile } })), 's3cret-token');
    assert.equal(readToken(resolveProcessOptions(['token', 'tokenFile'], { env: {} })), undefined);
    assert.throws(
      () => resolveProcessOptions(['token', 'tokenFile'], { env: { CS_TOKEN: 'abc', CS_TOKEN_FILE: tokenFile } }),
      (err: unknown) => err instanceof ConfigError && /give the token once: --token \(CS_TOKEN\) or --token-file \(CS_TOKEN_FILE\), not both/.test(err.message),
    );
  });

  it('refuses a missing or empty token file, naming the file and not its content', () => {
    assert.throws(() => resolveProcessOptions(['tokenFile'], { env: { CS_TOKEN_FILE: join(dir, 'missing') } }), (err: unknown) => err instanceof ConfigError && /CS_TOKEN_FILE=".*missing": no such file/.test(err.message));
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    assert.throws(() => readToken({ tokenFile: empty }), (err: unknown) => err instanceof ConfigError && /--token-file ".*empty": the file is empty/.test(err.message));
    const spaced = join(dir, 'spaced');
    writeFileSync(spaced, 'two words\n');
    assert.throws(() => readToken({ tokenFile: spaced }), (err: unknown) => err instanceof ConfigError && !err.message.includes('two words'));
  });

  it('reads --insecure as a switch (1/true/yes/on), false when absent', () => {
    assert.equal(resolveProcessOptions(['insecure'], { env: {} }).insecure, false);
    assert.equal(resolveProcessOptions(['insecure'], { env: { CS_INSECURE: '1' } }).insecure, true);
    assert.equal(resolveProcessOptions(['insecure'], { values: { insecure: 'true' }, env: {} }).insecure, true);
    assert.equal(resolveProcessOptions(['insecure'], { env: { CS_INSECURE: 'off' } }).insecure, false);
    assert.throws(() => resolveProcessOptions(['insecure'], { env: { CS_INSECURE: 'maybe' } }), (err: unknown) => err instanceof ConfigError && /CS_INSECURE="maybe": must be 1\/true\/yes\/on/.test(err.message));
  });

  it('wants --tls-cert and --tls-key together, and a CA file that holds a certificate', () => {
    assert.throws(() => resolveProcessOptions(['tlsCert', 'tlsKey'], { values: { tlsCert: tokenFile }, env: {} }), (err: unknown) => err instanceof ConfigError && /--tls-cert and --tls-key go together/.test(err.message));
    assert.throws(() => readJobManagerAccess({ caFile: tokenFile }), (err: unknown) => err instanceof ConfigError && /--ca ".*token": holds no PEM certificate/.test(err.message));
  });
});

describe('token precedence', () => {
  it('a token or token file given as a flag beats the other from the environment', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-token-precedence-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'from-file\n');
    assert.equal(readToken(resolveProcessOptions(['token', 'tokenFile'], { values: { token: 'from-flag' }, env: { CS_TOKEN_FILE: tokenFile } })), 'from-flag');
    assert.equal(readToken(resolveProcessOptions(['token', 'tokenFile'], { values: { tokenFile }, env: { CS_TOKEN: 'from-env' } })), 'from-file');
  });
});
