import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxStemcell } from '../../testkit/busybox-stemcell';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';
import { loopDevicesBackedBy, mountsUnder, NO_LEAKS } from '../../testkit/leak-checker';
import { manualNetworks } from '../../testkit/networks';

const NETWORKS = manualNetworks('10.244.0.30');

/**
 * Field fault: after a host or Garden restart the containers are gone but `<state_dir>/vms/<cid>` is still
 * there. has_vm said false (it asked Garden) while attach_disk, asking the records, loop-mounted the disk
 * where no container would ever see it and get_disks listed it. Garden alone decides (docs/vm-existence.md).
 * Through bin/cpi against the emulator in exec mode, the container removed behind the CPI's back as
 * `curl -X DELETE <garden>/containers/<vm>` would.
 */
describe('a VM exists when Garden says so (through bin/cpi)', () => {
  let env: CpiEnvironment;
  let stemcellCid: string;

  before(async () => {
    env = await startCpiEnvironment({ processMode: 'exec' });
    stemcellCid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, {}]);
  });
  after(async () => {
    await env?.close();
  });

  async function removeContainerBehindTheCpisBack(vm: string): Promise<void> {
    const response = await fetch(`http://${env.garden.address.address}/containers/${vm}`, { method: 'DELETE' });
    assert.equal(response.status, 200);
    assert.ok(!env.garden.containerHandles().includes(vm));
  }

  async function error(method: string, args: unknown[]): Promise<{ type: string; message: string } | null> {
    const run = await env.call(method, args);
    assert.equal(run.status, 0);
    return run.response.error;
  }

  async function nothingMountedFor(disk: string): Promise<void> {
    assert.deepEqual(await loopDevicesBackedBy(join(env.dirs.disksDir, disk)), [], 'no loop device for the disk');
    const diskMounts = (await mountsUnder([env.dirs.persistentDir])).filter((target) => target.endsWith(`/${disk}`));
    assert.deepEqual(diskMounts, [], 'no mount of the disk');
  }

  it('the field report: container gone, records left: has_vm false, attach_disk VMNotFound (nothing mounted), get_disks []', async () => {
    const [vm] = await env.ok<[string]>('create_vm', ['agent-x', stemcellCid, {}, NETWORKS, [], {}]);
    await removeContainerBehindTheCpisBack(vm);
    assert.ok((await readdir(join(env.dirs.stateDir, 'vms'))).includes(vm), 'the records are still there');

    assert.equal(await env.ok('has_vm', [vm]), false);
    const disk = await env.ok<string>('create_disk', [16, {}, vm]);
    const attach = await error('attach_disk', [vm, disk]);
    assert.equal(attach?.type, 'Bosh::Clouds::VMNotFound', JSON.stringify(attach));
    assert.match(attach?.message ?? '', new RegExp(`Attaching disk '${disk}' to VM '${vm}': VM '${vm}' not found: Garden has no container`));
    await nothingMountedFor(disk);
    assert.deepEqual(await env.ok('get_disks', [vm]), []);

    // Clean-up paths still clean and succeed: detach_disk, then delete_vm removes the host state.
    assert.equal(await error('detach_disk', [vm, disk]), null);
    assert.equal(await error('delete_vm', [vm]), null);
    assert.deepEqual(await readdir(join(env.dirs.stateDir, 'vms')), []);
    await env.ok('delete_disk', [disk]);
    assert.deepEqual(await env.leaks(), NO_LEAKS);
  });

  it('a disk attached before the container went: get_disks lists it (no Garden request), attach again VMNotFound, detach unmounts and succeeds', async () => {
    const [vm] = await env.ok<[string]>('create_vm', ['agent-y', stemcellCid, {}, NETWORKS, [], {}]);
    const disk = await env.ok<string>('create_disk', [16, {}, vm]);
    assert.equal(await env.ok('attach_disk', [vm, disk]), `/warden-cpi-dev/${disk}`);
    assert.deepEqual(await env.ok('get_disks', [vm]), [disk]);
    await removeContainerBehindTheCpisBack(vm);

    // Still mounted on the host: listed, so the Director detaches it; Garden is not asked.
    const connections = env.garden.connectionCount();
    assert.deepEqual(await env.ok('get_disks', [vm]), [disk]);
    assert.equal(env.garden.connectionCount() - connections, 0);
    const again = await error('attach_disk', [vm, disk]);
    assert.equal(again?.type, 'Bosh::Clouds::VMNotFound', JSON.stringify(again));
    assert.equal(await error('detach_disk', [vm, disk]), null);
    await nothingMountedFor(disk);
    // The disk is free again: a new VM can have it.
    const [next] = await env.ok<[string]>('create_vm', ['agent-y2', stemcellCid, {}, NETWORKS, [], {}]);
    assert.equal(await env.ok('attach_disk', [next, disk]), `/warden-cpi-dev/${disk}`);
    await env.ok('detach_disk', [next, disk]);
    for (const cid of [vm, next]) await env.ok('delete_vm', [cid]);
    await env.ok('delete_disk', [disk]);
    assert.deepEqual(await env.leaks(), NO_LEAKS);
  });

  it('answers every method by the one rule: present, gone (host state left), never existed', async () => {
    const [vm] = await env.ok<[string]>('create_vm', ['agent-z', stemcellCid, {}, NETWORKS, [], {}]);
    const disk = await env.ok<string>('create_disk', [16, {}, null]);
    const table: Record<string, Record<string, string>> = {};
    const answer = async (state: string, method: string, args: unknown[], label = method) => {
      const run = await env.call(method, args);
      const text = run.response.error === null ? JSON.stringify(run.response.result) : run.response.error.type.replace('Bosh::Clouds::', '');
      (table[label] ??= {})[state] = text;
    };
    const round = async (state: string, cid: string) => {
      await answer(state, 'has_vm', [cid]);
      await answer(state, 'set_vm_metadata', [cid, { name: 'z/0' }]);
      await answer(state, 'set_vm_metadata', [cid, {}], 'set_vm_metadata {}');
      await answer(state, 'get_disks', [cid]);
      await answer(state, 'attach_disk', [cid, disk]);
      await answer(state, 'get_disks', [cid], 'get_disks after attach');
      await answer(state, 'detach_disk', [cid, disk]);
      await answer(state, 'reboot_vm', [cid]);
    };
    await round('present', vm);
    await removeContainerBehindTheCpisBack(vm);
    await round('gone', vm);
    await answer('gone', 'delete_vm', [vm]);
    await round('never', vm);
    await answer('never', 'delete_vm', [vm]);

    const expected: Record<string, Record<string, string>> = {
      has_vm: { present: 'true', gone: 'false', never: 'false' },
      set_vm_metadata: { present: 'null', gone: 'VMNotFound', never: 'VMNotFound' },
      'set_vm_metadata {}': { present: 'null', gone: 'VMNotFound', never: 'VMNotFound' },
      get_disks: { present: '[]', gone: '[]', never: '[]' },
      'get_disks after attach': { present: `["${disk}"]`, gone: '[]', never: '[]' },
      attach_disk: { present: `"/warden-cpi-dev/${disk}"`, gone: 'VMNotFound', never: 'VMNotFound' },
      detach_disk: { present: 'null', gone: 'null', never: 'VMNotFound' },
      reboot_vm: { present: 'null', gone: 'VMNotFound', never: 'VMNotFound' },
      delete_vm: { gone: 'null', never: 'null' },
    };
    for (const [method, states] of Object.entries(expected)) assert.deepEqual(table[method], states, `${method}: ${JSON.stringify(table)}`);
    await env.ok('delete_disk', [disk]);
    assert.deepEqual(await env.leaks(), NO_LEAKS);
  });

  it('Garden unreachable: attach_disk cannot tell whether the VM exists, so it refuses and mounts nothing', async () => {
    const [vm] = await env.ok<[string]>('create_vm', ['agent-u', stemcellCid, {}, NETWORKS, [], {}]);
    const disk = await env.ok<string>('create_disk', [16, {}, vm]);
    const config = JSON.parse(await readFile(env.configPath, 'utf8')) as Record<string, unknown>;
    await writeFile(
      env.configPath,
      JSON.stringify({ ...config, warden: { connect_network: 'unix', connect_address: join(env.dir, 'no-garden.sock') } }),
    );
    try {
      const attach = await error('attach_disk', [vm, disk]);
      assert.equal(attach?.type, 'Bosh::Clouds::CloudError', JSON.stringify(attach));
      assert.match(attach?.message ?? '', /Attaching disk .*(ENOENT|unreachable)/i);
      await nothingMountedFor(disk);
      assert.equal((await error('has_vm', [vm]))?.type, 'Bosh::Clouds::CloudError');
      // get_disks does not ask Garden: the host's mounts answer.
      assert.deepEqual(await env.ok('get_disks', [vm]), []);
    } finally {
      await writeFile(env.configPath, JSON.stringify(config));
    }
    await env.ok('delete_vm', [vm]);
    await env.ok('delete_disk', [disk]);
    assert.deepEqual(await env.leaks(), NO_LEAKS);
  });
});
