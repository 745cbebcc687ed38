import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { addProcessOptions, processOptionValues } from '../../src/cli/process-option-flags';
import { resolveProcessOptions } from '../../src/config/resolve-process-options';

/** Found by the fuzz suite's cluster: two --model-dir flags became one folder named "a,b". */
test('a repeated --model-dir gives one folder per flag', () => {
  const command = addProcessOptions(new Command().exitOverride(), ['modelDirs', 'insecure']);
  command.parse(['--model-dir', '/srv/models', '--model-dir', '/tmp', '--insecure'], { from: 'user' });
  const options = resolveProcessOptions(['modelDirs', 'insecure'], { values: processOptionValues(command, ['modelDirs', 'insecure']), env: {} });
  assert.deepEqual(options.modelDirs, [resolve('/srv/models'), resolve('/tmp')]);
  assert.equal(options.insecure, true);
});
