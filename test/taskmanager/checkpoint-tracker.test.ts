import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CheckpointTracker } from '../../taskmanager/checkpoint-tracker';
import { compareStreamIds, nextStreamId, previousStreamId } from '../../src/redis/stream-ids';

describe('compareStreamIds', () => {
  test('orders by milliseconds, then sequence, numerically', () => {
    const ids = ['10-0', '9-5', '9-10', '100-0', '9-9', '10'];
    assert.deepEqual([...ids].sort(compareStreamIds), ['9-5', '9-9', '9-10', '10-0', '10', '100-0']);
    assert.equal(compareStreamIds('1700000000000-18446744073709551615', '1700000000000-18446744073709551614'), 1);
    assert.equal(compareStreamIds('5-1', '5-1'), 0);
  });

  test('nextStreamId and previousStreamId step exactly, across the 64-bit sequence boundary', () => {
    assert.equal(nextStreamId('5-1'), '5-2');
    assert.equal(nextStreamId('5'), '5-1');
    assert.equal(nextStreamId('5-18446744073709551615'), '6-0');
    assert.equal(nextStreamId('1700000000000-9007199254740993'), '1700000000000-9007199254740994');
    assert.equal(previousStreamId('5-2'), '5-1');
    assert.equal(previousStreamId('5-0'), '4-18446744073709551615');
    assert.equal(previousStreamId('0-0'), '0-0');
    assert.equal(previousStreamId('not-an-id'), undefined);
  });
});

describe('CheckpointTracker', () => {
  test('no checkpoint before the first written entry', () => {
    const t = new CheckpointTracker();
    t.read('s', '1-0');
    assert.equal(t.checkpoint('s'), undefined);
    assert.deepEqual(t.checkpoints(), new Map());
  });

  test('moves to the largest id whose every predecessor read is written', () => {
    const t = new CheckpointTracker();
    for (const id of ['1-0', '2-0', '3-0', '4-0']) t.read('s', id);
    t.written('s', '2-0');
    assert.equal(t.checkpoint('s'), undefined, '1-0 is not written yet');
    t.written('s', '1-0');
    assert.equal(t.checkpoint('s'), '2-0');
    t.written('s', '4-0');
    assert.equal(t.checkpoint('s'), '2-0', '3-0 holds it');
    t.written('s', '3-0');
    assert.equal(t.checkpoint('s'), '4-0');
    assert.equal(t.unwritten, 0);
  });

  test('splits are independent', () => {
    const t = new CheckpointTracker();
    t.read('a', '1-0');
    t.read('b', '1-0');
    t.read('b', '2-0');
    t.written('b', '2-0');
    t.written('a', '1-0');
    assert.deepEqual(t.checkpoints(), new Map([['a', '1-0']]));
    t.written('b', '1-0');
    assert.deepEqual(t.checkpoints(), new Map([['a', '1-0'], ['b', '2-0']]));
  });

  test('an older entry read later (claimed) never moves the checkpoint back, and holds it until written', () => {
    const t = new CheckpointTracker();
    t.read('s', '10-0');
    t.written('s', '10-0');
    assert.equal(t.checkpoint('s'), '10-0');
    t.read('s', '5-0'); // claimed from a dead reader
    t.read('s', '11-0');
    t.written('s', '11-0');
    assert.equal(t.checkpoint('s'), '10-0', 'held, not moved back');
    t.written('s', '5-0');
    assert.equal(t.checkpoint('s'), '11-0');
  });

  test('an older entry read and written at once leaves the checkpoint where it is', () => {
    const t = new CheckpointTracker();
    t.read('s', '10-0');
    t.written('s', '10-0');
    t.read('s', '3-0');
    t.written('s', '3-0');
    assert.equal(t.checkpoint('s'), '10-0');
  });

  test('out-of-order reads are kept in id order', () => {
    const t = new CheckpointTracker();
    for (const id of ['5-0', '3-0', '4-0', '1-0']) t.read('s', id);
    t.written('s', '1-0');
    t.written('s', '3-0');
    assert.equal(t.checkpoint('s'), '3-0');
    t.written('s', '5-0');
    assert.equal(t.checkpoint('s'), '3-0');
    t.written('s', '4-0');
    assert.equal(t.checkpoint('s'), '5-0');
  });

  test('released entries are no longer in flight but hold the checkpoint until read again and written', () => {
    const t = new CheckpointTracker();
    t.read('s', '1-0');
    t.read('s', '2-0');
    assert.ok(t.inFlight('s', '1-0'));
    t.released('s', '1-0'); // its sink write failed
    assert.equal(t.inFlight('s', '1-0'), false);
    t.written('s', '2-0');
    assert.equal(t.checkpoint('s'), undefined);
    t.read('s', '1-0'); // claimed back
    assert.ok(t.inFlight('s', '1-0'));
    t.written('s', '1-0');
    assert.equal(t.checkpoint('s'), '2-0');
    assert.equal(t.inFlight('s', '1-0'), false);
  });

  test('duplicates and unknown ids change nothing', () => {
    const t = new CheckpointTracker();
    t.read('s', '1-0');
    t.read('s', '1-0');
    t.written('s', '9-0');
    t.written('x', '1-0');
    assert.equal(t.unwritten, 1);
    t.written('s', '1-0');
    assert.equal(t.checkpoint('s'), '1-0');
    assert.equal(t.unwritten, 0);
    t.written('s', '1-0');
    assert.equal(t.checkpoint('s'), '1-0');
  });

  test('memory stays bounded by what is unwritten over a long run', () => {
    const t = new CheckpointTracker();
    let last = '';
    for (let i = 1; i <= 100_000; i++) {
      last = `${i}-0`;
      t.read('s', last);
      if (i % 3 === 0) for (let j = i - 2; j <= i; j++) t.written('s', `${j}-0`);
    }
    assert.equal(t.unwritten, 1); // 100000-0 (100000 is not a multiple of 3) … and 99999 was written
    assert.equal(t.checkpoint('s'), '99999-0');
    t.written('s', last);
    assert.equal(t.checkpoint('s'), last);
  });
});
