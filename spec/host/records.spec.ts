import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, open, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { CloudError } from '../../src/errors/cpi-errors';
import { createDiskMetadataStore } from '../../src/disks/disk-metadata-store';
import { currentProcess } from '../../src/host/process-identity';
import { readRecord, writeFileAtomic, writeRecord } from '../../src/host/records';
import { silentLogger } from '../../src/log/logger';
import { createStemcellImporter } from '../../src/stemcells/stemcell-importer';
import { createVmRecords } from '../../src/vms/vm-records';
import { createFileLocks } from '../../src/host/file-lock';

/** Counts FileHandle.sync calls (fsync) made while `work` runs. */
async function fsyncsDuring(work: () => Promise<void>): Promise<number> {
  const probe = await open(__filename, 'r');
  const proto = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
  await probe.close();
  const original = proto.sync;
  let count = 0;
  proto.sync = function (this: unknown) {
    count += 1;
    return original.call(this);
  };
  try {
    await work();
  } finally {
    proto.sync = original;
  }
  return count;
}

const schema = z.object({ a: z.number() });

describe('records (host/records.ts): one writer, one reader', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'records-spec-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes a record and fsyncs it and its directory; nothing but the record is left', async () => {
    const path = join(dir, 'one.json');
    assert.equal(await fsyncsDuring(() => writeRecord(path, { a: 1 })), 2);
    assert.equal(await readFile(path, 'utf8'), '{"a":1}\n');
    assert.deepEqual(await readRecord(path, schema), { a: 1 });
    assert.deepEqual(await readdir(dir), ['one.json']);
  });

  it('every record store writes through it (VM records, disk metadata, stemcell records): each write is fsynced', async () => {
    const state = join(dir, 'state');
    const vms = createVmRecords(
      { host_ephemeral_bind_mounts_dir: join(dir, 'e'), host_persistent_bind_mounts_dir: join(dir, 'p'), state_dir: state },
      silentLogger,
    );
    assert.equal(await fsyncsDuring(() => vms.write('vm-1', { init: 'runit', agent_id: 'a', ports: false })), 2);
    assert.equal(await fsyncsDuring(() => vms.markCreating('vm-1', currentProcess())), 2);
    const disks = createDiskMetadataStore(
      { disks_dir: join(dir, 'disks'), host_persistent_bind_mounts_dir: join(dir, 'p'), guest_persistent_bind_mounts_dir: '/x', state_dir: state },
      silentLogger,
    );
    assert.equal(await fsyncsDuring(() => disks.write('disk-1', { deployment: 'd' })), 2);
    // A light stemcell is nothing but its record.
    const image = join(dir, 'light', 'image');
    await mkdir(join(dir, 'light'));
    await writeFile(image, '');
    await writeFile(join(dir, 'light', 'stemcell.MF'), 'name: light\nversion: "1"\nstemcell_formats: [warden-light]\ncloud_properties: {}\n');
    const importer = createStemcellImporter({
      stemcellsDir: join(dir, 'stemcells'),
      stateDir: state,
      newId: () => 'light-1',
      locks: createFileLocks(join(dir, 'locks'), silentLogger),
      expand: true,
    });
    const syncs = await fsyncsDuring(async () => {
      await importer.importStemcell(image, { image_reference: 'docker.io/library/busybox:1' }, silentLogger);
    });
    assert.equal(syncs, 2);
  });

  it('one rule for reading: missing is undefined; not JSON, not of the schema or not a regular file is a CloudError naming the file', async () => {
    assert.equal(await readRecord(join(dir, 'missing.json'), schema), undefined);
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{"a": SECRET}');
    await assert.rejects(readRecord(bad, schema), (error: unknown) => {
      assert.ok(error instanceof CloudError);
      assert.equal(error.message, `'${bad}' is not valid JSON (at line 1, column 7)`);
      return true;
    });
    await writeFile(bad, '{"a": "x"}');
    await assert.rejects(readRecord(bad, schema), { name: 'CloudError', message: `'${bad}' is invalid: a: expected a number, got "x"` });
    const link = join(dir, 'link.json');
    await symlink(join(dir, 'one.json'), link);
    await assert.rejects(readRecord(link, schema), { name: 'CloudError', message: /is a symlink/ });
  });

  it("sweeps temp files of writers that were killed (pid gone or reused), never a live writer's", async () => {
    const sweep = join(dir, 'sweep');
    await mkdir(sweep);
    const gone = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
    const self = currentProcess();
    const killed = `.r.json.tmp-${gone}-5-00aa11`;
    const reused = `.r.json.tmp-${self.pid}-${Number(self.started) + 1}-00aa11`;
    const live = `.r.json.tmp-${self.pid}-${self.started}-00aa11`;
    const other = '.r.json.tmp-x';
    for (const name of [killed, reused, live, other]) await writeFile(join(sweep, name), '{"a":');
    await writeFileAtomic(join(sweep, 'r.json'), '{"a":2}\n');
    assert.deepEqual((await readdir(sweep)).sort(), [live, other, 'r.json'].sort());
  });

  it('a failed write leaves the old record and no temp file', async () => {
    const path = join(dir, 'keep.json');
    await writeRecord(path, { a: 1 });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await assert.rejects(writeRecord(path, cyclic), TypeError);
    await assert.rejects(writeFileAtomic(join(dir, 'no-such-dir', 'x.json'), '{}'), { code: 'ENOENT' });
    assert.deepEqual(await readRecord(path, schema), { a: 1 });
    assert.deepEqual(
      (await readdir(dir)).filter((name) => name.includes('.tmp-')),
      [],
    );
  });
});
