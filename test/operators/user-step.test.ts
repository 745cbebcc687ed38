import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { concat, EMPTY, delay, filter, firstValueFrom, from, map, mergeMap, NEVER, of, throwError, timer, toArray, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { applyUserStep } from '../../src/operators/user-step';
import { okResult, type InferenceRequest, type InferenceResult } from '../../src/tensor/records';
import { tensorFrom } from '../../src/tensor/tensor';
import type { UserStep } from '../../src/topology/topology';

function req(uri: string, value = 1): InferenceRequest {
  return {
    kind: 'request',
    uri,
    ref: { split: 'split-0', entryId: `${uri}-0` },
    replyTo: `reply-${uri}`,
    inputs: new Map([['x', tensorFrom(new Float32Array([value]), [1, 1])]]),
    receivedAt: 100,
  };
}

const valueOf = (r: InferenceRequest): number => new Float32Array(r.inputs.get('x')!.data.slice().buffer)[0]!;
const withValue = (r: InferenceRequest, v: number): InferenceRequest => ({ ...r, inputs: new Map([['x', tensorFrom(new Float32Array([v]), [1, 1])]]) });

function step(name: string, operator: OperatorFunction<InferenceRequest, InferenceRequest>): UserStep<InferenceRequest> {
  return { name, operator };
}

async function runAll(s: UserStep<InferenceRequest>, records: InferenceRequest[]): Promise<(InferenceRequest | InferenceResult)[]> {
  return firstValueFrom(from(records).pipe(applyUserStep(s), toArray()));
}

function assertUserError(out: InferenceRequest | InferenceResult | undefined, from: InferenceRequest, stepName: string, ...parts: string[]): void {
  assert.ok(out, 'no output');
  assert.equal(out.kind, 'result');
  const res = out as InferenceResult;
  assert.equal(res.error?.code, 'CS_ERR_USER_OPERATOR');
  assert.equal(res.outputs, undefined);
  assert.equal(res.uri, from.uri);
  assert.deepEqual(res.ref, from.ref);
  assert.equal(res.replyTo, from.replyTo);
  assert.equal(res.receivedAt, from.receivedAt);
  assert.ok(res.error!.message.includes(`"${stepName}"`), `message ${JSON.stringify(res.error!.message)} names the step`);
  for (const p of parts) assert.ok(res.error!.message.includes(p), `message ${JSON.stringify(res.error!.message)} contains ${JSON.stringify(p)}`);
}

describe('applyUserStep', () => {
  test('a plain map step applies to every record, in order', async () => {
    const out = await runAll(step('double', map((r) => withValue(r, valueOf(r) * 2))), [req('a', 1), req('b', 2), req('c', 3)]);
    assert.deepEqual(out.map((r) => r.uri), ['a', 'b', 'c']);
    assert.deepEqual(out.map((r) => valueOf(r as InferenceRequest)), [2, 4, 6]);
  });

  test('an identity step returns the very same records', async () => {
    const records = [req('a'), req('b')];
    const out = await runAll(step('id', (s) => s), records);
    assert.equal(out[0], records[0]);
    assert.equal(out[1], records[1]);
  });

  test('a throwing step yields CS_ERR_USER_OPERATOR for that record with the step name; neighbours pass', async () => {
    const s = step(
      'picky',
      map((r) => {
        if (r.uri === 'b') throw new Error('I do not like b');
        return withValue(r, 10);
      }),
    );
    const records = [req('a'), req('b'), req('c')];
    const out = await runAll(s, records);
    assert.equal(out.length, 3);
    assert.deepEqual(out.map((r) => r.uri), ['a', 'b', 'c']);
    assert.equal(valueOf(out[0] as InferenceRequest), 10);
    assertUserError(out[1], records[1]!, 'picky', 'I do not like b');
    assert.equal(valueOf(out[2] as InferenceRequest), 10);
  });

  test('a step throwing a non-Error value still gives an error result with the value in the message', async () => {
    const s = step(
      'stringly',
      map(() => {
        throw 'plain string';
      }),
    );
    const records = [req('a')];
    const [out] = await runAll(s, records);
    assertUserError(out, records[0]!, 'stringly', 'plain string');
  });

  test('an operator function that throws when applied (not when mapping) yields an error result, not a dead stream', async () => {
    const s = step('broken-factory', () => {
      throw new Error('factory failed');
    });
    const records = [req('a'), req('b')];
    const out = await runAll(s, records);
    assert.equal(out.length, 2);
    assertUserError(out[0], records[0]!, 'broken-factory', 'factory failed');
    assertUserError(out[1], records[1]!, 'broken-factory', 'factory failed');
  });

  test('a step emitting nothing yields an error result for that record alone', async () => {
    const records = [req('a'), req('drop'), req('c')];
    const out = await runAll(step('dropper', filter((r) => r.uri !== 'drop')), records);
    assert.deepEqual(out.map((r) => r.uri), ['a', 'drop', 'c']);
    assert.equal(out[0], records[0]);
    assertUserError(out[1], records[1]!, 'dropper', 'nothing');
    assert.equal(out[2], records[2]);
  });

  test('a step returning EMPTY for every record yields one error result per record', async () => {
    const records = [req('a'), req('b')];
    const out = await runAll(step('void', () => EMPTY), records);
    assert.equal(out.length, 2);
    out.forEach((o, i) => assertUserError(o, records[i]!, 'void'));
  });

  test('an RxJS operator that errors (mergeMap to throwError) yields an error result', async () => {
    const s = step(
      'rx-fails',
      mergeMap((r) => (r.uri === 'b' ? throwError(() => new Error('rx said no')) : of(r))),
    );
    const records = [req('a'), req('b'), req('c')];
    const out = await runAll(s, records);
    assert.deepEqual(out.map((r) => r.uri), ['a', 'b', 'c']);
    assert.equal(out[0], records[0]);
    assertUserError(out[1], records[1]!, 'rx-fails', 'rx said no');
    assert.equal(out[2], records[2]);
  });

  test('an error after the first emission is ignored: only the first emission counts', async () => {
    const s = step('emit-then-fail', mergeMap((r) => concat(of(withValue(r, 5)), throwError(() => new Error('too late')))));
    const [out] = await runAll(s, [req('a')]);
    assert.equal(out?.kind, 'request');
    assert.equal(valueOf(out as InferenceRequest), 5);
  });

  test('only the first emission counts when a step emits several', async () => {
    const s = step('fan-out', mergeMap((r) => of(withValue(r, 1), withValue(r, 2), withValue(r, 3))));
    const out = await runAll(s, [req('a'), req('b')]);
    assert.equal(out.length, 2);
    assert.deepEqual(out.map((r) => r.uri), ['a', 'b']);
    assert.deepEqual(out.map((r) => valueOf(r as InferenceRequest)), [1, 1]);
  });

  test('an async step (timer(5) on the real scheduler) works', async () => {
    const s = step('slow', mergeMap((r) => timer(5).pipe(map(() => withValue(r, valueOf(r) + 100)))));
    const out = await runAll(s, [req('a', 1), req('b', 2)]);
    assert.deepEqual(out.map((r) => r.uri).sort(), ['a', 'b']);
    assert.deepEqual(out.map((r) => valueOf(r as InferenceRequest)).sort((x, y) => x - y), [101, 102]);
  });

  test('async steps on virtual time: each record is handled on its own, results in completion order, completion waits', () => {
    const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
    scheduler.run(({ cold, expectObservable }) => {
      const a = req('a');
      const b = req('b');
      // a takes 5 ms, b takes 1 ms: b's result comes first; the stream completes after a's.
      const s = step('variable-delay', (src) => src.pipe(mergeMap((r) => of(r).pipe(delay(r.uri === 'a' ? 5 : 1)))));
      const source = cold('(ab|)', { a, b });
      expectObservable(source.pipe(applyUserStep(s))).toBe('-b---(a|)', { a, b });
    });
  });

  test('a step that never emits for a record holds only that record', () => {
    const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
    scheduler.run(({ cold, expectObservable }) => {
      const a = req('a');
      const b = req('b');
      const s = step('stuck-on-a', mergeMap((r) => (r.uri === 'a' ? NEVER : of(r))));
      expectObservable(cold('ab|', { a, b }).pipe(applyUserStep(s))).toBe('-b', { b });
    });
  });

  test('upstream errors propagate; empty upstream completes with nothing', () => {
    const scheduler = new TestScheduler((actual, expected) => assert.deepEqual(actual, expected));
    scheduler.run(({ cold, expectObservable }) => {
      const a = req('a');
      const s = step('id', (src) => src);
      expectObservable(cold('a#', { a }, new Error('upstream')).pipe(applyUserStep(s))).toBe('a#', { a }, new Error('upstream'));
      expectObservable(cold<InferenceRequest>('|').pipe(applyUserStep(s))).toBe('|');
    });
  });

  test('steps on results work the same (a throw becomes an error result for that result)', async () => {
    const base = okResult({ uri: 'r1', ref: { split: 's', entryId: '1-0' }, replyTo: undefined, receivedAt: 1 }, new Map());
    const other = { ...base, uri: 'r2' };
    const s: UserStep<InferenceResult> = {
      name: 'result-step',
      operator: map((r) => {
        if (r.uri === 'r2') throw new Error('bad result');
        return r;
      }),
    };
    const out = await firstValueFrom(from([base, other]).pipe(applyUserStep(s), toArray()));
    assert.equal(out[0], base);
    assert.equal(out[1]!.error?.code, 'CS_ERR_USER_OPERATOR');
    assert.match(out[1]!.error!.message, /"result-step".*bad result/);
    assert.equal(out[1]!.uri, 'r2');
  });
});
