import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { firstValueFrom, of, toArray } from 'rxjs';
import { decodeNative } from '../../src/operators/decode-native';
import { isReplyKey, replyKeyPrefix } from '../../src/cluster-api/keys';
import { encodeRequest } from '../../src/protocol/native/native-codec';
import { tensorFrom } from '../../src/tensor/tensor';
import type { SourceEntry } from '../../src/connector/source';

describe('reply keys', () => {
  it('accepts <stream>:reply:<id> with a client-style id, nothing else', () => {
    assert.ok(isReplyKey('tiny', 'tiny:reply:5f0c1e2a-9b7d-4c3e-8f00-123456789abc'));
    assert.ok(isReplyKey('a:b', 'a:b:reply:x_1.2-3'));
    for (const key of ['tiny', 'tiny:0', 'tiny:result:u1', 'tiny:dead-letter', 'tiny:reply:', 'tiny:reply:a:b', 'tiny:reply:a b', `tiny:reply:${'x'.repeat(129)}`, 'other:reply:x', 'cs:jobs', 'TINY:reply:x']) {
      assert.equal(isReplyKey('tiny', key), false, key);
    }
  });

  it('decode gives a request with a reply key outside the namespace an error result with no reply, and lets the others through', async () => {
    const input = new Map([['x', tensorFrom(Float32Array.of(1, 2), [1, 2])]]);
    const entry = (uri: string, replyTo: string | undefined): SourceEntry => ({ split: 'tiny', entryId: `1-${uri.length}`, uri, data: encodeRequest(input, replyTo) });
    const out = await firstValueFrom(
      of(entry('good', `${replyKeyPrefix('tiny')}abc`), entry('none', undefined), entry('bad', 'tiny'))
        .pipe(decodeNative({ maxRequestBytes: 1 << 20, acceptReplyTo: (k) => isReplyKey('tiny', k), replyNamespace: 'tiny:reply:<id>' }), toArray()),
    );
    assert.deepEqual(out.map((x) => [x.uri, x.kind, x.replyTo]), [['good', 'request', 'tiny:reply:abc'], ['none', 'request', undefined], ['bad', 'result', undefined]]);
    const bad = out[2]!;
    assert.ok(bad.kind === 'result' && bad.error?.code === 'CS_ERR_BAD_REQUEST' && /tiny:reply:<id>/.test(bad.error.message));
  });
});
