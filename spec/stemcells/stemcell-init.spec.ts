import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detectInitFromRootfs, initSystemForOs } from '../../src/stemcells/stemcell-init';

describe('initSystemForOs', () => {
  it('maps stemcell operating systems to their init system', () => {
    assert.equal(initSystemForOs('ubuntu-noble'), 'systemd');
    assert.equal(initSystemForOs('ubuntu-resolute'), 'systemd');
    assert.equal(initSystemForOs('ubuntu-jammy'), 'runit');
    assert.equal(initSystemForOs('ubuntu-bionic'), 'runit');
    assert.equal(initSystemForOs('windows2019'), undefined);
    assert.equal(initSystemForOs(undefined), undefined);
  });
});

describe('detectInitFromRootfs', () => {
  async function rootfs(build: (dir: string) => Promise<void>): Promise<string | undefined> {
    const dir = await mkdtemp(join(tmpdir(), 'init-spec-'));
    try {
      await mkdir(join(dir, 'sbin'));
      await mkdir(join(dir, 'usr/sbin'), { recursive: true });
      await build(dir);
      return await detectInitFromRootfs(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  it('systemd: /sbin/init -> systemd and no runsvdir-start', async () => {
    assert.equal(await rootfs((dir) => symlink('/lib/systemd/systemd', join(dir, 'sbin/init'))), 'systemd');
    assert.equal(await rootfs((dir) => symlink('../lib/systemd/systemd', join(dir, 'usr/sbin/init'))), 'systemd');
  });

  it('runit: /usr/sbin/runsvdir-start wins even beside a systemd /sbin/init', async () => {
    assert.equal(
      await rootfs(async (dir) => {
        await symlink('/lib/systemd/systemd', join(dir, 'sbin/init'));
        await writeFile(join(dir, 'usr/sbin/runsvdir-start'), '#!/bin/sh\n');
      }),
      'runit',
    );
  });

  it('unknown: a plain /sbin/init or nothing', async () => {
    assert.equal(await rootfs((dir) => writeFile(join(dir, 'sbin/init'), 'binary')), undefined);
    assert.equal(await rootfs(async () => undefined), undefined);
    assert.equal(await detectInitFromRootfs('/nonexistent-rootfs'), undefined);
  });
});
