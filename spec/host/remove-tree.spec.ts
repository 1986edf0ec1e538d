import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeTree, removeTrees } from '../../src/host/remove-tree';
import { spawnedDuring } from '../support/spawned-during';

async function tree(root: string, files: number): Promise<void> {
  await mkdir(join(root, 'a', 'b'), { recursive: true });
  for (let i = 0; i < files; i += 1) await writeFile(join(root, 'a', 'b', `f${i}`), 'x');
}

describe('removeTrees (host/remove-tree.ts)', () => {
  it('removes several trees with one rm, and starts none when none exists', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'remove-tree-'));
    try {
      await tree(join(dir, 'one'), 20);
      await tree(join(dir, 'two'), 20);
      await symlink('/etc', join(dir, 'link'));
      const spawned = await spawnedDuring(() => removeTrees([join(dir, 'one'), join(dir, 'missing'), join(dir, 'two'), join(dir, 'link')]));
      assert.deepEqual(spawned, ['rm']);
      assert.equal(existsSync(join(dir, 'one')) || existsSync(join(dir, 'two')) || existsSync(join(dir, 'link')), false);
      assert.ok(existsSync('/etc/passwd'), 'the symlink was removed, not followed');
      assert.deepEqual(await spawnedDuring(() => removeTrees([join(dir, 'one'), join(dir, 'gone')])), []);
      assert.deepEqual(await spawnedDuring(() => removeTree(join(dir, 'gone'))), []);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a relative path or / before removing anything', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'remove-tree-'));
    try {
      await tree(join(dir, 'kept'), 1);
      await assert.rejects(removeTrees([join(dir, 'kept'), 'relative/path']), /Refusing to remove 'relative\/path'/);
      await assert.rejects(removeTrees(['/']), /Refusing to remove '\/'/);
      assert.ok(existsSync(join(dir, 'kept', 'a', 'b', 'f0')));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('never empties a mount inside a tree, and says what rm found', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'remove-tree-'));
    const mounted = join(dir, 'vm', 'disk');
    try {
      await mkdir(mounted, { recursive: true });
      execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mounted]);
      await writeFile(join(mounted, 'data'), 'keep me');
      await assert.rejects(removeTrees([join(dir, 'vm')]), /Removing '.*\/vm': rm failed \(exit 1\): .*disk/);
      assert.ok(existsSync(join(mounted, 'data')));
    } finally {
      execFileSync('umount', [mounted]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
