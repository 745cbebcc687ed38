import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { decodeEvent, encodeEvent, EVENT_FILE_VERSION } from '../../src/metrics/tf-event';
import { crc32cOf, frameRecord, maskedCrc32c, readRecords } from '../../src/metrics/tf-record';

/** TensorFlow's masking (crc32c.h), written out independently of the module under test. */
function mask(crc: number): number {
  return (((crc >>> 15) | ((crc << 17) >>> 0)) + 0xa282ead8) % 2 ** 32;
}

describe('TFRecord framing', () => {
  it('computes CRC32C (Castagnoli), not CRC32: the check value of "123456789" is 0xE3069283', () => {
    assert.equal(crc32cOf(Buffer.from('123456789')), 0xe3069283);
    assert.equal(crc32cOf(Buffer.alloc(0)), 0);
    // 32 zero bytes: the iSCSI test vector of RFC 3720 (B.4).
    assert.equal(crc32cOf(Buffer.alloc(32)), 0x8a9136aa);
    assert.equal(crc32cOf(Buffer.alloc(32, 0xff)), 0x62a8ab43);
  });

  it('masks the CRC as TensorFlow does: rotate right 15, add 0xa282ead8', () => {
    assert.equal(maskedCrc32c(Buffer.from('123456789')), mask(0xe3069283));
    assert.equal(maskedCrc32c(Buffer.alloc(0)), 0xa282ead8);
  });

  it('frames a record as length (uint64 LE), masked CRC of the length, data, masked CRC of the data', () => {
    const data = Buffer.from('hello, tensorboard');
    const record = frameRecord(data);
    assert.equal(record.length, 8 + 4 + data.length + 4);
    assert.equal(record.readBigUInt64LE(0), BigInt(data.length));
    assert.equal(record.readUInt32LE(8), mask(crc32cOf(record.subarray(0, 8))));
    assert.deepEqual(record.subarray(12, 12 + data.length), data);
    assert.equal(record.readUInt32LE(12 + data.length), mask(crc32cOf(data)));
  });

  it('reads back every record, and stops at a record cut short or corrupted', () => {
    const datas = [Buffer.from('a'), Buffer.alloc(0), Buffer.alloc(1000, 7), Buffer.from('last')];
    const file = Buffer.concat(datas.map(frameRecord));
    const all = readRecords(file);
    assert.deepEqual(all.records.map((r) => Buffer.from(r)), datas);
    assert.equal(all.trailingBytes, 0);

    const cut = readRecords(file.subarray(0, file.length - 3));
    assert.equal(cut.records.length, 3);
    assert.equal(cut.trailingBytes, frameRecord(datas[3]!).length - 3);

    const corrupt = Buffer.from(file);
    corrupt[frameRecord(datas[0]!).length + frameRecord(datas[1]!).length + 12 + 500]! ^= 1;
    assert.equal(readRecords(corrupt).records.length, 2, 'a flipped data bit fails its CRC');
    const badLength = Buffer.from(file);
    badLength[0]! ^= 1;
    assert.equal(readRecords(badLength).records.length, 0, 'a flipped length bit fails the length CRC');
  });
});

describe('Event protobuf', () => {
  it('round-trips the file version event and scalar events (float32 values, int64 steps)', () => {
    const version = decodeEvent(encodeEvent({ wallTime: 1700000000.25, step: 0, fileVersion: EVENT_FILE_VERSION }));
    assert.deepEqual(version, { wallTime: 1700000000.25, step: 0, fileVersion: 'brain.Event:2' });
    const scalars = decodeEvent(encodeEvent({ wallTime: 1700000001.5, step: 2 ** 40, scalars: [{ tag: 'a/b', value: 0.1 }, { tag: 'c', value: 812 }] }));
    assert.equal(scalars.step, 2 ** 40);
    assert.equal(scalars.wallTime, 1700000001.5);
    assert.deepEqual(scalars.scalars, [{ tag: 'a/b', value: Math.fround(0.1) }, { tag: 'c', value: 812 }]);
  });

  it('writes the wire bytes TensorFlow does for a small event', () => {
    // Event{wall_time: 1.0, step: 3, summary{value{tag: "t", simple_value: 2.0}}}, as protoc writes it:
    const expected = Buffer.from(
      [
        '09 000000000000f03f', // field 1 (wall_time), fixed64: 1.0
        '10 03', // field 2 (step), varint: 3
        '2a 0a', // field 5 (summary), 10 bytes
        '0a 08', //   Summary field 1 (value), 8 bytes
        '0a 01 74', //     Value field 1 (tag): "t"
        '15 00000040', //     Value field 2 (simple_value), fixed32: 2.0f
      ].join('').replace(/ /g, ''),
      'hex',
    );
    assert.deepEqual(Buffer.from(encodeEvent({ wallTime: 1, step: 3, scalars: [{ tag: 't', value: 2 }] })), expected);
  });
});
