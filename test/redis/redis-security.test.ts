import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JOBMANAGER_OPTION_NAMES } from '../../src/config/process-options';
import { resolveProcessOptions } from '../../src/config/resolve-process-options';
import { ConfigError, ConnectorError } from '../../src/errors';
import { certificateFailure, isCertificateError, isTransientRedisError } from '../../src/redis/redis-failures';
import { RespError } from '../../src/redis/resp-parser';
import { clientRedisCredentials, loadRedisCredentials, redactRedisUrl, redisSecurityOf } from '../../src/redis/redis-security';

describe('Redis secrets and TLS files', () => {
  test('a URL\'s password is shown as ***, nothing else changes', () => {
    assert.equal(redactRedisUrl('redis://user:s3cret@host:6379/0'), 'redis://user:***@host:6379/0');
    assert.equal(redactRedisUrl('rediss://:s3cret@host'), 'rediss://:***@host');
    assert.equal(redactRedisUrl('redis://user@host'), 'redis://user@host');
    assert.equal(redactRedisUrl('redis://host:6379'), 'redis://host:6379');
  });

  test('the password file\'s first line is the password; unreadable files and a certificate without its key are one ConfigError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-redis-secrets-'));
    writeFileSync(join(dir, 'pw'), 'first line\nsecond\n');
    writeFileSync(join(dir, 'ca.pem'), 'PEM');
    assert.deepEqual(loadRedisCredentials({ passwordFile: join(dir, 'pw'), caFile: join(dir, 'ca.pem') }), { tls: { ca: Buffer.from('PEM') }, password: 'first line' });
    assert.equal(loadRedisCredentials({ password: 'given', passwordFile: join(dir, 'pw') }).password, 'given');
    assert.throws(
      () => loadRedisCredentials({ caFile: join(dir, 'missing.pem'), certFile: join(dir, 'ca.pem') }),
      (err: unknown) => err instanceof ConfigError && err.problems.length === 2 && /missing\.pem: ENOENT/.test(err.message) && /--redis-cert and --redis-key/.test(err.message),
    );
  });

  test('a client takes its own options first, then the CS_REDIS_* environment', () => {
    const env = { CS_REDIS_PASSWORD: 'from-env' };
    assert.equal(clientRedisCredentials({}, env).password, 'from-env');
    assert.equal(clientRedisCredentials({ password: 'mine' }, env).password, 'mine');
    assert.equal(clientRedisCredentials({ password: undefined }, env).password, undefined);
    assert.equal(redisSecurityOf({}, env).password, 'from-env');
  });

  test('TLS files need a rediss:// URL, and a Redis URL\'s password never shows in an option error', () => {
    assert.throws(
      () => resolveProcessOptions(JOBMANAGER_OPTION_NAMES, { values: { redisUrl: 'redis://u:pw-123@h:6379', redisCaFile: '/ca.pem' }, env: {} }),
      (err: unknown) => err instanceof ConfigError && /--redis-ca need a rediss:\/\/ URL/.test(err.message) && !err.message.includes('pw-123'),
    );
    assert.throws(
      () => resolveProcessOptions(JOBMANAGER_OPTION_NAMES, { values: { redisUrl: 'rediss://h', redisCertFile: '/c.pem' }, env: {} }),
      (err: unknown) => err instanceof ConfigError && /--redis-cert and --redis-key go together/.test(err.message),
    );
    assert.throws(
      () => resolveProcessOptions(['redisUrl'], { values: { redisUrl: 'http://u:pw-123@h' }, env: {} }),
      (err: unknown) => err instanceof ConfigError && !err.message.includes('pw-123'),
    );
    const ok = resolveProcessOptions(JOBMANAGER_OPTION_NAMES, { values: { redisUrl: 'rediss://h:6380' }, env: { CS_REDIS_CA: 'ca.pem', CS_REDIS_PASSWORD_FILE: 'pw' } });
    assert.equal(ok.redisCaFile, join(process.cwd(), 'ca.pem'));
    assert.equal(ok.redisPasswordFile, join(process.cwd(), 'pw'));
  });

  test('Redis away is transient (refused, dropped, LOADING); an answer, a refused login or a certificate failure is not', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
    assert.equal(isTransientRedisError(refused), true);
    assert.equal(isTransientRedisError(new ConnectorError('cannot connect to Redis at h:1: connect ECONNREFUSED h:1', { cause: refused })), true);
    assert.equal(isTransientRedisError(new Error('Connection is closed.')), true);
    assert.equal(isTransientRedisError(new RespError('LOADING Redis is loading the dataset in memory')), true);
    assert.equal(isTransientRedisError(new RespError('WRONGTYPE Operation against a key holding the wrong kind of value')), false);
    assert.equal(isTransientRedisError(new RespError('WRONGPASS invalid username-password pair')), false);
    const cert = Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    assert.equal(isCertificateError(cert), true);
    assert.equal(isTransientRedisError(cert), false);
    const failure = certificateFailure('rediss://u:pw-123@h:6380', cert);
    assert.ok(failure instanceof ConnectorError && failure.retriable === false);
    assert.match(failure.message, /TLS to Redis at rediss:\/\/u:\*\*\*@h:6380 failed: self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\); give the CA/);
  });
});
