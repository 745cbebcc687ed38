import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestScheduler } from 'rxjs/testing';
import { map, NEVER, of, throwError, Subject } from 'rxjs';
import { batchWindow } from '../../src/operators/batch-window';

function scheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
}

const byValue = { key: () => 'k' };

describe('batchWindow (marble tests on virtual time)', () => {
  test('never: emits nothing, not even empty batches', () => {
    const s = scheduler();
    s.run(({ expectObservable }) => {
      expectObservable(NEVER.pipe(batchWindow({ maxSize: 3, maxDelayMs: 5, ...byValue }, s))).toBe('');
    });
  });

  test('empty: completes without emitting an empty batch', () => {
    const s = scheduler();
    s.run(({ cold, expectObservable }) => {
      expectObservable(cold('|').pipe(batchWindow({ maxSize: 3, maxDelayMs: 5, ...byValue }, s))).toBe('|');
    });
  });

  test('one value: the delay starts at the first item, not on a free-running clock', () => {
    const s = scheduler();
    s.run(({ hot, expectObservable }) => {
      const src = hot('--- 7ms a---');
      // a arrives at 3+7=10 ms; its batch closes 5 ms later
      expectObservable(src.pipe(batchWindow({ maxSize: 3, maxDelayMs: 5, ...byValue }, s))).toBe('--- 7ms ----- x', { x: ['a'] });
    });
  });

  test('many values: a batch closes as soon as it is full, the rest waits for its own delay', () => {
    const s = scheduler();
    s.run(({ hot, expectObservable }) => {
      const src = hot('abcd');
      expectObservable(src.pipe(batchWindow({ maxSize: 3, maxDelayMs: 5, ...byValue }, s))).toBe('--x 5ms y', { x: ['a', 'b', 'c'], y: ['d'] });
    });
  });

  test('items with different keys never share a batch, each key keeps its own timer', () => {
    const s = scheduler();
    s.run(({ hot, expectObservable }) => {
      const src = hot('a-B-c');
      const key = (v: string): string => (v === v.toUpperCase() ? 'upper' : 'lower');
      expectObservable(src.pipe(batchWindow({ maxSize: 10, maxDelayMs: 4, key }, s))).toBe('----x-y', { x: ['a', 'c'], y: ['B'] });
    });
  });

  test('rows: an item that would overflow closes the open batch first; an oversized item goes alone', () => {
    const s = scheduler();
    s.run(({ hot, expectObservable }) => {
      const src = hot('abc', { a: 2, b: 2, c: 9 });
      expectObservable(src.pipe(batchWindow({ maxSize: 3, maxDelayMs: 5, key: () => 'k', rows: (n: number) => n }, s))).toBe('-x(yz)', { x: [2], y: [2], z: [9] });
    });
  });

  test('completion flushes open batches; upstream error drops them and propagates', () => {
    const s = scheduler();
    s.run(({ hot, expectObservable }) => {
      expectObservable(hot('ab|').pipe(batchWindow({ maxSize: 5, maxDelayMs: 5, ...byValue }, s))).toBe('--(x|)', { x: ['a', 'b'] });
      expectObservable(hot('ab#').pipe(batchWindow({ maxSize: 5, maxDelayMs: 5, ...byValue }, s))).toBe('--#');
    });
  });

  test('a throwing key function errors the stream', () => {
    const s = scheduler();
    s.run(({ expectObservable }) => {
      const key = (): string => {
        throw new Error('boom');
      };
      expectObservable(of(1).pipe(batchWindow({ maxSize: 5, maxDelayMs: 5, key }, s))).toBe('#', undefined, new Error('boom'));
    });
  });

  test('early unsubscribe cancels pending timers', () => {
    const s = scheduler();
    s.run(({ hot, expectObservable }) => {
      const src = hot('a-b');
      expectObservable(src.pipe(batchWindow({ maxSize: 5, maxDelayMs: 10, ...byValue }, s)), '^--!').toBe('');
    });
  });

  test('a never-ending source keeps batching', () => {
    const s = scheduler();
    s.run(({ hot, expectObservable }) => {
      const src = hot('a 9ms b 9ms c');
      expectObservable(src.pipe(batchWindow({ maxSize: 5, maxDelayMs: 2, ...byValue }, s))).toBe('--x 9ms y 9ms z', { x: ['a'], y: ['b'], z: ['c'] });
    });
  });

  test('maxDelayMs 0 on the real clock groups what arrives in one synchronous burst', async () => {
    const subject = new Subject<number>();
    const out: number[][] = [];
    const sub = subject.pipe(batchWindow({ maxSize: 100, maxDelayMs: 0, ...byValue })).subscribe((b) => out.push(b));
    subject.next(1);
    subject.next(2);
    subject.next(3);
    await new Promise((r) => setTimeout(r, 5));
    subject.next(4);
    await new Promise((r) => setTimeout(r, 5));
    sub.unsubscribe();
    assert.deepEqual(out, [[1, 2, 3], [4]]);
  });

  test('upstream error with no items is passed on', () => {
    const s = scheduler();
    s.run(({ expectObservable }) => {
      expectObservable(throwError(() => 'e').pipe(map((x: never) => x), batchWindow({ maxSize: 5, maxDelayMs: 5, ...byValue }, s))).toBe('#', undefined, 'e');
    });
  });

  test('idle: a batch that opens while nothing downstream waits closes at the end of its burst, no delay', () => {
    const s = scheduler();
    let idle = true;
    s.run(({ hot, expectObservable }) => {
      // a and b arrive together at 0 while idle: one batch, closed at once. c opens at 13 ms while busy: it waits 5 ms.
      const src = hot('(ab) 9ms c', { a: 'a', b: 'b', c: 'c' });
      s.schedule(() => (idle = false), 5);
      expectObservable(src.pipe(batchWindow({ maxSize: 3, maxDelayMs: 5, idle: () => idle, ...byValue }, s))).toBe('x 9ms ---- 4ms y', { x: ['a', 'b'], y: ['c'] });
    });
  });
});

