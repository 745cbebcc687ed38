import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferRecycler } from '../../src/connector/buffer-recycler';

describe('BufferRecycler', () => {
  test('a buffer given back serves the next payload of its size class; small payloads are not pooled', () => {
    const r = new BufferRecycler(1024, 1 << 20, 1024);
    const a = r.take(3000);
    assert.equal(a.length, 3000);
    assert.ok(r.owns(a));
    r.give(a);
    assert.equal(r.retainedBytes, 3072);
    const b = r.take(2500);
    assert.equal(b.buffer, a.buffer, 'same class (3 KiB): reused');
    assert.equal(b.length, 2500);
    assert.equal(r.retainedBytes, 0);
    const c = r.take(3000);
    assert.notEqual(c.buffer, a.buffer, 'in use: not handed out twice');
    const small = r.take(100);
    assert.equal(r.owns(small), false);
    r.give(small);
    assert.equal(r.retainedBytes, 0);
  });

  test('a double give-back or a foreign buffer is ignored, so one buffer never serves two payloads', () => {
    const r = new BufferRecycler(1024, 1 << 20, 1024);
    const a = r.take(2048);
    r.give(a);
    r.give(a);
    assert.equal(r.retainedBytes, 2048);
    const first = r.take(2048);
    const second = r.take(2048);
    assert.notEqual(first.buffer, second.buffer);
    r.give(Buffer.alloc(4096));
    r.give(new Uint8Array(new SharedArrayBuffer(4096)));
    assert.equal(r.retainedBytes, 0);
  });

  test('free buffers beyond maxRetainedBytes are left to the garbage collector', () => {
    const r = new BufferRecycler(1024, 4096, 1024);
    const bufs = [r.take(2048), r.take(2048), r.take(2048)];
    for (const b of bufs) r.give(b);
    assert.equal(r.retainedBytes, 4096);
  });

  test('hold and release: an entry gives its buffer back once; an entry held twice gives neither back', () => {
    const r = new BufferRecycler(1024, 1 << 20, 1024);
    const a = r.take(2048);
    r.hold({ split: 's', entryId: '1-0' }, a);
    r.release({ split: 's', entryId: '1-0' });
    r.release({ split: 's', entryId: '1-0' });
    assert.equal(r.retainedBytes, 2048);
    const b = r.take(2048);
    const c = r.take(2048);
    r.hold({ split: 's', entryId: '2-0' }, b);
    r.hold({ split: 's', entryId: '2-0' }, c);
    r.hold({ split: 's', entryId: '3-0' }, Buffer.alloc(4096));
    r.release({ split: 's', entryId: '2-0' });
    r.release({ split: 's', entryId: '3-0' });
    assert.equal(r.retainedBytes, 0);
  });

  test('a payload is placed so that its byte alignAt is 8-byte aligned, in shared memory', () => {
    const r = new BufferRecycler(1024, 1 << 20, 1024, 'shared');
    for (const alignAt of [0, 1, 5, 7, 8, 13]) {
      const b = r.take(4000, alignAt);
      assert.ok(b.buffer instanceof SharedArrayBuffer);
      assert.equal(b.length, 4000);
      assert.equal((b.byteOffset + alignAt) % 8, 0, `alignAt ${alignAt}`);
      r.give(b);
    }
  });
});
