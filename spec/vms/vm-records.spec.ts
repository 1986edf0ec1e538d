import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudError } from '../../src/errors/cpi-errors';
import { currentProcess } from '../../src/host/process-identity';
import { silentLogger } from '../../src/log/logger';
import { createVmRecords } from '../../src/vms/vm-records';

describe('VmRecords', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cpi-records-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('finds creations whose process died (pid gone or reused), not live or unreadable ones', async () => {
    const dirs = { host_ephemeral_bind_mounts_dir: join(dir, 'e'), host_persistent_bind_mounts_dir: join(dir, 'p'), state_dir: dir };
    const records = createVmRecords(dirs, silentLogger);
    await records.markCreating('live', currentProcess());
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    await records.markCreating('dead', { pid: Number(dead.stdout), started: '1' });
    await records.markCreating('reused', { pid: process.pid, started: 'not-our-start-time' });
    await mkdir(join(dir, 'vms', 'garbled'), { recursive: true });
    await writeFile(join(dir, 'vms', 'garbled', 'creating.json'), '{"pid":');
    await records.markCreating('done', currentProcess());
    await records.clearCreating('done');
    assert.deepEqual((await records.abandonedCreations()).sort(), ['dead', 'reused']);

    await records.write('live', { init: 'systemd', agent_id: 'a', ports: true });
    assert.deepEqual(await records.read('live'), { init: 'systemd', agent_id: 'a', ports: true });
    assert.equal(await records.read('nope'), undefined);
  });

  it('a corrupt VM record is a CloudError naming the file and the position, never its text', async () => {
    const dirs = { host_ephemeral_bind_mounts_dir: join(dir, 'e'), host_persistent_bind_mounts_dir: join(dir, 'p'), state_dir: dir };
    const records = createVmRecords(dirs, silentLogger);
    await mkdir(join(dir, 'vms', 'bad'), { recursive: true });
    const file = join(dir, 'vms', 'bad', 'vm.json');
    await writeFile(file, '{"init":SECRET}');
    await assert.rejects(records.read('bad'), (error: unknown) => {
      assert.ok(error instanceof CloudError);
      assert.equal(error.message, `'${file}' is not valid JSON (at line 1, column 9)`);
      return true;
    });
    await writeFile(file, '{"init":"upstart","agent_id":"a","ports":true}');
    await assert.rejects(records.read('bad'), { message: new RegExp(`^'${file}' is invalid: init: expected`) });
  });
});
