import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RespError, RespParser, type RespValue } from '../../src/redis/resp-parser';

/** An XREADGROUP-shaped reply with every RESP2 type, a nil entry, and a bulk string of `big` bytes. */
function sample(big: number): { bytes: Buffer; expected: RespValue[] } {
  const payload = Buffer.alloc(big, 0);
  for (let i = 0; i < big; i++) payload[i] = (i * 7 + 3) & 0xff;
  payload[5] = 10; // a '\n' inside a bulk string is data, not a line end
  payload[6] = 13;
  const bytes = Buffer.concat([
    Buffer.from('*1\r\n*2\r\n$5\r\njob:0\r\n*3\r\n'),
    Buffer.from('*2\r\n$3\r\n1-0\r\n*4\r\n$3\r\nuri\r\n$2\r\nu1\r\n$4\r\ndata\r\n'),
    Buffer.from(`$${big}\r\n`),
    payload,
    Buffer.from('\r\n*2\r\n$3\r\n2-0\r\n*-1\r\n*2\r\n$3\r\n3-0\r\n*0\r\n'),
    Buffer.from('+OK\r\n-ERR no such key\r\n:-42\r\n$-1\r\n$0\r\n\r\n'),
  ]);
  const expected: RespValue[] = [
    [[Buffer.from('job:0'), [[Buffer.from('1-0'), [Buffer.from('uri'), Buffer.from('u1'), Buffer.from('data'), payload]], [Buffer.from('2-0'), null], [Buffer.from('3-0'), []]]]],
    'OK',
    new RespError('ERR no such key'),
    -42,
    null,
    Buffer.alloc(0),
  ];
  return { bytes, expected };
}

function parseInPieces(bytes: Buffer, cuts: readonly number[], allocate?: (n: number) => Buffer): RespValue[] {
  const replies: RespValue[] = [];
  const parser = new RespParser((r) => replies.push(r), allocate);
  let at = 0;
  for (const cut of [...cuts, bytes.length]) {
    // A reused read buffer: the parser must copy what it keeps, so the chunk is scribbled over after each feed.
    const chunk = Buffer.from(bytes.subarray(at, cut));
    parser.feed(chunk);
    chunk.fill(0xee);
    at = cut;
  }
  return replies;
}

function normalise(v: RespValue): unknown {
  if (Buffer.isBuffer(v)) return { bulk: v.toString('hex') };
  if (v instanceof RespError) return { error: v.message };
  if (Array.isArray(v)) return v.map(normalise);
  return v;
}

describe('RespParser', () => {
  test('parses every RESP2 type in one chunk, including nil entries and empty arrays', () => {
    const { bytes, expected } = sample(300);
    assert.deepEqual(parseInPieces(bytes, []).map(normalise), expected.map(normalise));
  });

  test('gives the same replies whatever the chunk boundaries, and keeps nothing of the chunks it was fed', () => {
    const { bytes, expected } = sample(40);
    const want = expected.map(normalise);
    for (let cut = 1; cut < bytes.length; cut++) assert.deepEqual(parseInPieces(bytes, [cut]).map(normalise), want, `cut at ${cut}`);
    const everyByte = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(parseInPieces(bytes, everyByte).map(normalise), want, 'one byte at a time');
  });

  test('bulk strings go into buffers from the allocator, with their exact length', () => {
    const { bytes } = sample(5000);
    const asked: number[] = [];
    const replies = parseInPieces(bytes, [100, 2000, 4000], (n) => {
      asked.push(n);
      return Buffer.alloc(n);
    });
    assert.ok(asked.includes(5000));
    const entry = ((replies[0] as RespValue[])[0] as RespValue[])[1] as RespValue[];
    const fields = (entry[0] as RespValue[])[1] as Buffer[];
    assert.equal(fields[3]!.length, 5000);
  });

  test('a byte that starts no RESP2 reply is an error', () => {
    const parser = new RespParser(() => undefined);
    assert.throws(() => parser.feed(Buffer.from('?what\r\n')), /not a RESP2 reply: type byte 0x3f/);
    assert.throws(() => new RespParser(() => undefined).feed(Buffer.from('$abc\r\n')), /not a RESP2 integer/);
  });

  test('the rest of a large bulk string can be read straight into its buffer, with the string\'s head given to the allocator', () => {
    const payload = Buffer.alloc(20000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) % 251;
    const wire = Buffer.concat([Buffer.from(`*2\r\n$${payload.length}\r\n`), payload, Buffer.from('\r\n:42\r\n')]);
    const replies: RespValue[] = [];
    const heads: number[] = [];
    const parser = new RespParser((r) => replies.push(r), (n, head) => {
      heads.push(head.length);
      return Buffer.alloc(n);
    });
    // The socket's first read holds the header and 1,000 bytes of the string.
    const header = wire.indexOf('\r\n', 5) + 2;
    parser.feed(wire.subarray(0, header + 1000));
    assert.deepEqual(heads, [1000]);
    let at = header + 1000;
    for (;;) {
      const target = parser.directTarget();
      if (!target) break;
      const n = Math.min(target.length, 6000); // a read returns what has arrived
      wire.copy(target, 0, at, at + n);
      parser.filledDirectly(n);
      at += n;
    }
    assert.ok(at > header + 1000 + 4096, 'most of the string went straight into place');
    parser.feed(wire.subarray(at));
    assert.equal(replies.length, 1);
    const [bulk, n] = replies[0] as [Buffer, number];
    assert.ok(bulk.equals(payload));
    assert.equal(n, 42);
    assert.equal(parser.directTarget(), undefined);
    assert.throws(() => parser.filledDirectly(1), /overran/);
  });
});

