import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { startProgress, withProgress } from '../../src/cli/progress';

function recorder(isTTY: boolean): { isTTY: boolean; text: string; write(t: string): void } {
  return { isTTY, text: '', write(t) { this.text += t; } };
}

describe('progress of long CLI steps', () => {
  it('writes plain lines when the stream is not a terminal: start, an update at most every 5 s, the end with the time taken', () => {
    const stream = recorder(false);
    let now = 0;
    const p = startProgress('demo: run', { stream, now: () => now });
    now = 1000;
    p.update('10 answered');
    now = 6000;
    p.update('60 answered');
    now = 7500;
    p.done('70 answered');
    assert.equal(stream.text, 'demo: run…\ndemo: run: 60 answered (6.0 s)\ndemo: run: 70 answered (7.5 s)\n');
    assert.doesNotMatch(stream.text, /\r|\x1b/);
  });

  it('writes nothing off a terminal in tty-only mode, even when the step fails', async () => {
    const stream = recorder(false);
    await assert.rejects(withProgress('model x.onnx', () => Promise.reject(new Error('refused')), { mode: 'tty-only', stream }), /refused/);
    await withProgress('model x.onnx', () => Promise.resolve(1), { mode: 'tty-only', stream });
    assert.equal(stream.text, '');
  });

  it('redraws one line in place on a terminal and replaces it with the final line (or clears it on failure)', async () => {
    const stream = recorder(true);
    const p = startProgress('bench: first request', { stream });
    p.update('waiting');
    p.done('answered');
    assert.match(stream.text, /^\r\x1b\[K. bench: first request \(0\.\d s\)/);
    assert.match(stream.text, /\r\x1b\[Kbench: first request: answered \(\d+\.\d s\)\n$/);
    const failing = recorder(true);
    await assert.rejects(withProgress('step', () => Promise.reject(new Error('x')), { stream: failing }));
    assert.match(failing.text, /\r\x1b\[K$/, 'the line is cleared for the error line that follows');
  });
});
