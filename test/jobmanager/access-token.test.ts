import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { AccessToken } from '../../jobmanager/access-token';
import { isLoopbackHost } from '../../jobmanager/is-loopback-host';
import { ClusterServingError } from '../../src/errors';

describe('AccessToken', () => {
  const access = new AccessToken('t0ken-value');

  it('accepts exactly "Bearer <token>" (scheme in any case, surrounding spaces)', () => {
    for (const header of ['Bearer t0ken-value', 'bearer t0ken-value', 'BEARER   t0ken-value ', ['Bearer t0ken-value']]) assert.equal(access.accepts(header), true, String(header));
    for (const header of [undefined, '', 'Bearer', 'Bearer t0ken-valu', 'Bearer t0ken-value2', 'Bearer T0KEN-VALUE', 't0ken-value', 'Basic t0ken-value', 'Bearer t0ken-value extra', []]) {
      assert.equal(access.accepts(header), false, String(header));
    }
  });

  it('check throws CS_ERR_UNAUTHENTICATED: "requires a bearer token" without one, "not the one" for a wrong one, never echoing it', () => {
    assert.throws(() => access.check(undefined), (err: unknown) => err instanceof ClusterServingError && err.code === 'CS_ERR_UNAUTHENTICATED' && /requires a bearer token/.test(err.message));
    assert.throws(() => access.check('Bearer guess-123'), (err: unknown) => err instanceof ClusterServingError && /not the one/.test(err.message) && !err.message.includes('guess-123'));
    access.check('Bearer t0ken-value');
  });

  it('leaves only the health probes open', () => {
    assert.equal(AccessToken.isOpenPath('/v2/health/live'), true);
    assert.equal(AccessToken.isOpenPath('/v2/health/ready?x=1'), true);
    for (const path of ['/v2', '/v2/health', '/v2/health/live/', '/v2/models/x/ready', '/overview', '/jobs']) assert.equal(AccessToken.isOpenPath(path), false, path);
    assert.deepEqual(['ServerLive', 'ServerReady', 'ModelReady', 'ModelInfer', 'ServerMetadata'].map((m) => AccessToken.isOpenGrpcMethod(m)), [true, true, false, false, false]);
  });
});

describe('isLoopbackHost', () => {
  it('is true for localhost, 127.0.0.0/8 and ::1 only', () => {
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.8.9.10', '::1', '[::1]', '::ffff:127.0.0.1']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', '192.168.1.2', '::ffff:10.0.0.1', 'fe80::1', 'example.com', 'localhost.example.com', '128.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
  });
});
