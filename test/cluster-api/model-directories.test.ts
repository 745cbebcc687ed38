import { strict as assert } from 'node:assert';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ModelDirectories } from '../../src/cluster-api/model-directories';

describe('ModelDirectories (real files and symlinks)', () => {
  let root: string;
  let models: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'cs-model-dirs-'));
    models = join(root, 'models');
    await mkdir(join(models, 'nested'), { recursive: true });
    await writeFile(join(models, 'nested', 'm.onnx'), 'm');
    await writeFile(join(models, '..odd.onnx'), 'odd name, still inside');
    await writeFile(join(root, 'secret.onnx'), 'secret');
    await writeFile(join(root, 'models-evil.onnx'), 'a sibling whose name starts like the folder');
    await symlink(join(root, 'secret.onnx'), join(models, 'out.onnx'));
    await symlink(join(models, 'nested', 'm.onnx'), join(models, 'in.onnx'));
    await symlink(models, join(root, 'models-link'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('finds regular files inside, as written and after symlinks, at their real path', async () => {
    const dirs = new ModelDirectories([models]);
    assert.deepEqual(await dirs.locate(join(models, 'nested', 'm.onnx')), { kind: 'file', path: join(models, 'nested', 'm.onnx') });
    assert.deepEqual(await dirs.locate(join(models, 'in.onnx')), { kind: 'file', path: join(models, 'nested', 'm.onnx') });
    assert.deepEqual(await dirs.locate(join(models, '..odd.onnx')), { kind: 'file', path: join(models, '..odd.onnx') });
    assert.deepEqual(await dirs.locate(join(models, 'nested', '..', 'nested', 'm.onnx')), { kind: 'file', path: join(models, 'nested', 'm.onnx') });
    assert.deepEqual(await dirs.locate(join(models, 'not-yet.onnx')), { kind: 'missing' });
  });

  it('refuses what lies outside: traversal, absolute paths, symlinks leading out, sibling prefixes, folders, devices', async () => {
    const dirs = new ModelDirectories([models]);
    for (const path of [
      join(models, '..', 'secret.onnx'),
      join(models, '..', '..', '..', '..', 'etc', 'passwd'),
      join(root, 'secret.onnx'),
      join(models, 'out.onnx'),
      join(root, 'models-evil.onnx'),
      join(root, 'models-link', 'nested', 'm.onnx'), // inside only through a link that is not a model dir
      join(models, 'nested'),
      models,
      '/dev/zero',
    ]) {
      assert.deepEqual(await dirs.locate(path), { kind: 'outside' }, path);
    }
    assert.deepEqual(await new ModelDirectories([]).locate(join(models, 'nested', 'm.onnx')), { kind: 'outside' }, 'no folders: nothing counts');
    assert.equal(new ModelDirectories([]).describe(), 'none');
  });

  it('takes a model directory given through a symlink', async () => {
    const dirs = new ModelDirectories([join(root, 'models-link')]);
    assert.deepEqual(await dirs.locate(join(root, 'models-link', 'nested', 'm.onnx')), { kind: 'file', path: join(models, 'nested', 'm.onnx') });
    assert.deepEqual(await dirs.locate(join(root, 'models-link', 'out.onnx')), { kind: 'outside' });
  });
});
