import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxStemcell } from '../../testkit/busybox-stemcell';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';
import { gardenLabel, gardenUnderTest } from '../../testkit/garden-under-test';
import { NO_LEAKS } from '../../testkit/leak-checker';
import { manualNetworks } from '../../testkit/networks';

const networks = manualNetworks('10.244.0.10');

/**
 * The whole CPI lifecycle as the Director drives it: one bin/cpi process per call, cleared environment,
 * against the Garden emulator in exec mode with a real (busybox) stemcell, real loop devices and mounts.
 */
for (const style of ['director', 'bosh-cli'] as const) {
  describe(`lifecycle through bin/cpi (${style} requests)${gardenLabel()}`, () => {
    let env: CpiEnvironment;
    // bosh-cli: api_version 1 on info, no request_id anywhere; the Director: api_version 2 and request ids.
    const infoOptions = style === 'bosh-cli' ? { apiVersion: 1, requestId: null } : { apiVersion: null };
    const callOptions = style === 'bosh-cli' ? { requestId: null } : {};

    before(async () => {
      env = await startCpiEnvironment({ processMode: 'exec', garden: gardenUnderTest() });
    });
    after(async () => {
      await env?.close();
    });

    it('runs info, stemcell, VM, disk, data, re-attach, resize, snapshot and deletes, leaving nothing behind', async () => {
      const info = await env.ok<{ api_version: number }>('info', [], infoOptions);
      assert.equal(info.api_version, 2);

      const stemcell = await busyboxStemcell();
      const stemcellCid = await env.ok<string>('create_stemcell', [stemcell.imagePath, null], callOptions);

      const agentId = `agent-${style}`;
      const [vm1, returnedNetworks] = await env.ok<[string, unknown]>(
        'create_vm',
        [agentId, stemcellCid, {}, networks, [], { bosh: { password: 'secret' } }],
        callOptions,
      );
      assert.deepEqual(returnedNetworks, networks);
      assert.equal(await env.ok('has_vm', [vm1], callOptions), true);
      await env.ok('set_vm_metadata', [vm1, { director: 'lifecycle', deployment: 'd', name: 'zookeeper/0', index: 0 }], callOptions);

      // The fake agent (runsvdir-start) copies its settings into /var/vcap/data once started: proof the
      // detached agent start ran, with the settings already in place.
      await env.shell(vm1, 'for i in $(seq 100); do [ -f /var/vcap/data/agent-started.json ] && exit 0; sleep 0.1; done; exit 1');
      const settings = JSON.parse(await env.shell(vm1, 'cat /var/vcap/data/agent-started.json')) as { agent_id: string; vm: { name: string } };
      assert.equal(settings.agent_id, agentId);
      assert.equal(settings.vm.name, vm1);

      const disk = await env.ok<string>('create_disk', [100, {}, vm1], callOptions);
      assert.equal(await env.ok('has_disk', [disk], callOptions), true);
      const hint = await env.ok<string>('attach_disk', [vm1, disk], callOptions);
      assert.equal(hint, `/warden-cpi-dev/${disk}`);
      assert.deepEqual(await env.ok('get_disks', [vm1], callOptions), [disk]);

      await env.shell(vm1, `echo precious-data > ${hint}/file && sync`);
      const attachedSettings = JSON.parse(await env.shell(vm1, 'cat /var/vcap/bosh/warden-cpi-agent-env.json')) as {
        disks: { persistent: Record<string, unknown> };
      };
      assert.deepEqual(attachedSettings.disks.persistent, { [disk]: hint });

      await env.ok('detach_disk', [vm1, disk], callOptions);
      assert.deepEqual(await env.ok('get_disks', [vm1], callOptions), []);
      await env.ok('delete_vm', [vm1], callOptions);
      assert.equal(await env.ok('has_vm', [vm1], callOptions), false);

      const [vm2] = await env.ok<[string]>('create_vm', [`${agentId}-2`, stemcellCid, {}, networks, [disk], {}], callOptions);
      await env.ok('attach_disk', [vm2, disk], callOptions);
      assert.equal((await env.shell(vm2, `cat ${hint}/file`)).trim(), 'precious-data');
      await env.ok('detach_disk', [vm2, disk], callOptions);

      await env.ok('resize_disk', [disk, 200], callOptions);
      await env.ok('attach_disk', [vm2, disk], callOptions);
      // busybox df cannot see the chroot's mounts; statfs on the hint path is what df reports.
      const [blocks, blockSize] = (await env.shell(vm2, `stat -f -c '%b %S' ${hint}`)).trim().split(' ').map(Number);
      const sizeKb = ((blocks ?? 0) * (blockSize ?? 0)) / 1024;
      assert.ok(sizeKb > 150 * 1024, `the filesystem at the hint has ${sizeKb} KiB after resizing to 200 MiB`);
      assert.equal((await env.shell(vm2, `cat ${hint}/file`)).trim(), 'precious-data');
      await env.ok('detach_disk', [vm2, disk], callOptions);

      const snapshot = await env.ok<string>('snapshot_disk', [disk, { deployment: 'd', index: 0 }], callOptions);
      await env.ok('delete_snapshot', [snapshot], callOptions);
      await env.ok('delete_vm', [vm2], callOptions);
      await env.ok('delete_disk', [disk], callOptions);
      assert.equal(await env.ok('has_disk', [disk], callOptions), false);
      await env.ok('delete_stemcell', [stemcellCid], callOptions);

      assert.deepEqual(await env.leaks(), NO_LEAKS);
      const ephemeral = await readFile(join(env.dirs.ephemeralDir, vm2, 'agent-started.json')).catch(() => undefined);
      assert.equal(ephemeral, undefined, 'delete_vm removes the ephemeral dir');
    });
  });
}
