import { strict as assert } from 'node:assert';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../src/embedded/free-port';
import { parseYamlTopology } from '../../src/topology/load-yaml';
import { hasStackTrace, lines, runCs } from './run-cs';

/** A user mistake: non-zero exit, exactly one line on stderr starting with "error:", no stack trace. */
function assertOneLineError(result: { code: number | null; stderr: string; stdout: string }, pattern: RegExp): void {
  assert.notEqual(result.code, 0, 'non-zero exit');
  const errLines = lines(result.stderr);
  assert.equal(errLines.length, 1, `one line on stderr, got:\n${result.stderr}`);
  assert.match(errLines[0]!, /^error: /);
  assert.match(errLines[0]!, pattern);
  assert.equal(hasStackTrace(result.stderr), false);
  assert.equal(result.stdout, '');
}

describe('cs CLI: user mistakes (no server)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cs-cli-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints help and exits 0 with --help', async () => {
    const result = await runCs(['--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /Usage: cs/);
    for (const command of ['jobmanager', 'taskmanager', 'job', 'start', 'init', 'predict', 'bench']) assert.match(result.stdout, new RegExp(`\\b${command}\\b`));
  });

  it('refuses an unknown flag in one line', async () => {
    assertOneLineError(await runCs(['job', 'list', '--bogus']), /unknown option '--bogus'/);
  });

  it('refuses an unknown command in one line, with a suggestion', async () => {
    assertOneLineError(await runCs(['jbo', 'list']), /unknown command 'jbo'.*did you mean job\?/);
  });

  it('refuses a missing argument in one line', async () => {
    assertOneLineError(await runCs(['job', 'submit']), /missing required argument 'file'/);
  });

  it('refuses a missing topology file in one line', async () => {
    const missing = join(dir, 'nope.yaml');
    assertOneLineError(await runCs(['job', 'submit', missing]), new RegExp(`cannot read topology file .*nope\\.yaml: no such file \\(CS_ERR_CONFIG\\)`));
  });

  it('says in one line that the JobManager is not reachable', async () => {
    const port = await freePort();
    assertOneLineError(await runCs(['job', 'list', '--jobmanager', `http://127.0.0.1:${port}`]), /cannot reach the JobManager at http:\/\/127\.0\.0\.1:\d+: connection refused \(CS_ERR_CONNECTOR\)/);
  });

  it('says in one line that Redis is not reachable when a JobManager starts', async () => {
    const port = await freePort();
    assertOneLineError(
      await runCs(['jobmanager', 'start', '--port', '0', '--redis', `redis://127.0.0.1:${port}`, '--cache-dir', join(dir, 'cache')]),
      /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED .* \(CS_ERR_CONNECTOR\)/,
    );
  });

  it('reads flags from CS_* environment variables and names the variable of a bad value', async () => {
    assertOneLineError(await runCs(['job', 'list'], { env: { CS_JOBMANAGER_URL: 'not a url' } }), /CS_JOBMANAGER_URL="not a url": must be a URL/);
  });

  it('lists every invalid option of a process at once, without a stack trace', async () => {
    const result = await runCs(['jobmanager', 'start', '--port', '99999', '--heartbeat-timeout-ms', 'soon', '--redis', 'http://x']);
    assert.notEqual(result.code, 0);
    const errLines = lines(result.stderr);
    assert.equal(errLines[0], 'error: invalid options (CS_ERR_CONFIG)');
    assert.equal(errLines.length, 4, result.stderr);
    assert.ok(errLines.some((l) => /--port "99999": must be a port/.test(l)));
    assert.ok(errLines.some((l) => /--heartbeat-timeout-ms "soon"/.test(l)));
    assert.ok(errLines.some((l) => /--redis "http:\/\/x": must start with redis:\/\//.test(l)));
    assert.equal(hasStackTrace(result.stderr), false);
  });

  it('init writes a starter topology that validates, and refuses to overwrite it', async () => {
    const file = join(dir, 'my-model.yaml');
    const first = await runCs(['init', file]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /wrote .*my-model\.yaml/);
    const text = await readFile(file, 'utf8');
    const spec = parseYamlTopology(text, 'my-model.yaml');
    assert.equal(spec.name, 'my-model');
    assertOneLineError(await runCs(['init', file]), /already exists/);
    assert.equal(await readFile(file, 'utf8'), text, 'file untouched');
  });
});
