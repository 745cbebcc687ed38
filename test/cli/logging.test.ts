import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { freePort } from '../../src/embedded/free-port';
import { ConfigError } from '../../src/errors';
import { createLogger } from '../../src/logging/logger';
import { resolveProcessOptions } from '../../src/config/resolve-process-options';
import { formatDuration, parseDuration } from '../../src/config/parse-duration';
import { waitFor } from '../support/wait-for';
import { hasStackTrace, lines, runCs, spawnCs } from './run-cs';

/** One line on stderr naming the bad value, exit code 1 (as every config error), no stack trace, nothing on stdout. */
function assertConfigLine(result: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  assert.equal(result.code, 1, result.stderr);
  const errLines = lines(result.stderr);
  assert.equal(errLines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.match(errLines[0]!, /^error: .* \(CS_ERR_CONFIG\)$/);
  assert.match(errLines[0]!, pattern);
  assert.doesNotMatch(errLines[0]!, /internal error/);
  assert.equal(hasStackTrace(result.stderr), false);
  assert.equal(result.stdout, '');
}

/** Starts a TaskManager whose JobManager does not answer (it logs a registration retry at warn) and returns its first stderr line. */
async function firstLogLine(args: readonly string[], env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const child = spawnCs(['taskmanager', 'start', '--jobmanager', `http://127.0.0.1:${port}`, ...args], { env });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    return await waitFor(() => (stderr.includes('\n') ? stderr.slice(0, stderr.indexOf('\n')) : undefined), { maxWaitMs: 60_000, what: 'a first log line' });
  } finally {
    child.kill('SIGKILL');
  }
}

describe('logging: CS_LOG_LEVEL / CS_LOG_FORMAT and their flags', () => {
  it('refuses an unknown CS_LOG_LEVEL with one config line and exit code 1, on a process command and a client command', async () => {
    assertConfigLine(await runCs(['jobmanager', 'start'], { env: { CS_LOG_LEVEL: 'verbose' } }), /^error: CS_LOG_LEVEL="verbose": must be one of fatal, error, warn, info, debug, trace, silent/);
    assertConfigLine(await runCs(['job', 'list'], { env: { CS_LOG_LEVEL: 'loud' } }), /CS_LOG_LEVEL="loud"/);
    assertConfigLine(await runCs(['taskmanager', 'start', '--log-level', 'chatty']), /--log-level "chatty": must be one of/);
    assertConfigLine(await runCs(['start', 'x.yaml'], { env: { CS_LOG_FORMAT: 'xml' } }), /CS_LOG_FORMAT="xml": must be one of auto, pretty, json/);
  });

  it('lists CS_LOG_LEVEL, CS_LOG_FORMAT and the other variables in --help of every command that starts a process', async () => {
    for (const command of [['jobmanager', 'start'], ['taskmanager', 'start'], ['start'], ['demo']]) {
      const help = await runCs([...command, '--help']);
      assert.equal(help.code, 0, help.stderr);
      assert.match(help.stdout, /--log-level <level>[\s\S]*\(env CS_LOG_LEVEL, default info\)/, command.join(' '));
      assert.match(help.stdout, /--log-format <format>[\s\S]*\(env CS_LOG_FORMAT, default auto\)/, command.join(' '));
      assert.match(help.stdout, /Environment variables[\s\S]*CS_LOG_LEVEL[\s\S]*CS_REDIS_PASSWORD[\s\S]*CS_DEBUG/, command.join(' '));
    }
    const jobmanager = await runCs(['jobmanager', 'start', '--help']);
    assert.match(jobmanager.stdout, /--job-retention <duration>[\s\S]*\(env CS_JOB_RETENTION, default 1h\)/);
  });

  it('writes JSON lines when stderr is not a terminal, readable lines when CS_LOG_FORMAT=pretty or --log-format pretty', async () => {
    const json = await firstLogLine([], { CS_LOG_LEVEL: 'warn' });
    const entry = JSON.parse(json) as { level: number; name: string; msg: string };
    assert.equal(entry.msg, 'taskmanager.registration.retry');
    assert.equal(entry.level, 40);

    const pattern = /^\[\d\d:\d\d:\d\d\.\d{3}\] WARN \(taskmanager\): taskmanager\.registration\.retry \{.*"attempt":1/;
    const pretty = await firstLogLine([], { CS_LOG_LEVEL: 'warn', CS_LOG_FORMAT: 'pretty' });
    assert.match(pretty, pattern);
    assert.doesNotMatch(pretty, /\x1b\[/, 'no colours when stderr is not a terminal');
    assert.match(await firstLogLine(['--log-format', 'pretty', '--log-level', 'warn'], { CS_LOG_FORMAT: 'json' }), pattern, 'the flag wins over the variable');
  });

  it('createLogger refuses an unknown level or CS_LOG_LEVEL as a ConfigError (not a pino error)', () => {
    assert.throws(() => createLogger('test', 'loud'), ConfigError);
    const before = process.env.CS_LOG_LEVEL;
    process.env.CS_LOG_LEVEL = 'verbose';
    try {
      assert.throws(() => createLogger('test'), (err: unknown) => err instanceof ConfigError && /^CS_LOG_LEVEL="verbose": must be one of/.test(err.message));
    } finally {
      if (before === undefined) delete process.env.CS_LOG_LEVEL;
      else process.env.CS_LOG_LEVEL = before;
    }
  });

  it('reads --job-retention as a duration with a unit, from 1s to 366d', () => {
    assert.equal(resolveProcessOptions(['jobRetentionMs'], { env: {} }).jobRetentionMs, 3_600_000);
    assert.equal(resolveProcessOptions(['jobRetentionMs'], { values: { jobRetentionMs: '90s' }, env: {} }).jobRetentionMs, 90_000);
    assert.equal(resolveProcessOptions(['jobRetentionMs'], { env: { CS_JOB_RETENTION: '1.5m' } }).jobRetentionMs, 90_000);
    assert.equal(resolveProcessOptions(['jobRetentionMs'], { values: { jobRetentionMs: 5000 }, env: {} }).jobRetentionMs, 5000, 'a number from code is ms');
    for (const bad of ['10', '1 hour', '1y', '500ms', '-1h']) {
      assert.throws(() => resolveProcessOptions(['jobRetentionMs'], { values: { jobRetentionMs: bad }, env: {} }), ConfigError, bad);
    }
    assert.equal(parseDuration('2d'), 172_800_000);
    assert.equal(formatDuration(3_600_000), '1h');
    assert.equal(formatDuration(90_000), '90s');
    assert.equal(formatDuration(1500), '1500ms');
  });
});
