import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxStemcell } from '../../testkit/busybox-stemcell';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';
import { gardenLabel, gardenUnderTest } from '../../testkit/garden-under-test';
import { NO_LEAKS } from '../../testkit/leak-checker';
import { manualNetworks } from '../../testkit/networks';

const COUNT = 10;

function networksFor(index: number): Record<string, unknown> {
  return manualNetworks(`10.244.0.${10 + index}`);
}

const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index);

interface PersistentSettings {
  agent_id: string;
  disks: { persistent: Record<string, unknown> | null };
}

/**
 * Many bin/cpi processes at once, as a Director with max_in_flight > 1 runs them: each call is its own
 * process, so only the cross-process locks and the kernel keep VMs, disks and settings apart.
 */
describe(`concurrent calls through bin/cpi (busybox stemcell)${gardenLabel()}`, () => {
  let env: CpiEnvironment;

  before(async () => {
    env = await startCpiEnvironment({ processMode: 'exec', garden: gardenUnderTest() });
  });
  after(async () => {
    await env?.close();
  });

  it('imports one image three times at once: one unpack, three cids sharing one copy of the data', async () => {
    const stemcell = await busyboxStemcell();
    const runs = await Promise.all(range(3).map(() => env.call('create_stemcell', [stemcell.imagePath, {}])));
    for (const run of runs) assert.equal(run.response.error, null, JSON.stringify(run.response.error));
    const cids = runs.map((run) => run.response.result as string);
    assert.equal(new Set(cids).size, 3, `three distinct cids: ${cids.join(', ')}`);

    const entries = await readdir(env.dirs.stemcellsDir);
    const data = entries.filter((name) => name.startsWith('.data-'));
    assert.equal(data.length, 1, `one data copy: ${entries.join(', ')}`);
    assert.deepEqual([...entries].sort(), [...cids, data[0]].sort(), 'nothing else in stemcells_dir (no import temp left)');
    for (const cid of cids) assert.equal(await readlink(join(env.dirs.stemcellsDir, cid)), data[0]);
    // The data was unpacked by exactly one of the three: the other two say they shared it.
    const sharers = runs.filter((run) => /already imported; sharing its data/.test(run.stderr + run.response.log));
    assert.equal(sharers.length, 2, "two of the three imports link the first one's data");

    await Promise.all(cids.slice(1).map((cid) => env.ok('delete_stemcell', [cid])));
    assert.deepEqual((await readdir(env.dirs.stemcellsDir)).sort(), [cids[0], data[0]].sort());
    await env.ok('delete_stemcell', [cids[0]]);
    assert.deepEqual(await readdir(env.dirs.stemcellsDir), []);
    assert.deepEqual(await env.leaks(), NO_LEAKS);
  });

  it(`creates ${COUNT} VMs and ${COUNT} disks, attaches each disk to its VM, detaches and deletes, all in parallel`, async () => {
    const stemcell = await busyboxStemcell();
    const stemcellCid = await env.ok<string>('create_stemcell', [stemcell.imagePath, {}]);

    const vms = await Promise.all(
      range(COUNT).map(async (index) => (await env.ok<[string]>('create_vm', [`agent-${index}`, stemcellCid, {}, networksFor(index), [], {}]))[0]),
    );
    assert.equal(new Set(vms).size, COUNT);
    assert.deepEqual([...(await env.containerHandles())].sort(), [...vms].sort());

    const disks = await Promise.all(range(COUNT).map(() => env.ok<string>('create_disk', [64, {}, null])));
    assert.equal(new Set(disks).size, COUNT);

    const hints = await Promise.all(range(COUNT).map((index) => env.ok<string>('attach_disk', [vms[index], disks[index]])));
    for (const index of range(COUNT)) {
      const vm = vms[index]!;
      const disk = disks[index]!;
      assert.equal(hints[index], `/warden-cpi-dev/${disk}`);
      const expected = { [disk]: `/warden-cpi-dev/${disk}` };
      const host = JSON.parse(await readFile(join(env.dirs.stateDir, 'vms', vm, 'agent-settings.json'), 'utf8')) as PersistentSettings;
      assert.equal(host.agent_id, `agent-${index}`);
      assert.deepEqual(host.disks.persistent, expected, `host settings of ${vm}`);
      const inside = await env.client.exec(vm, { path: '/bin/cat', args: ['/var/vcap/bosh/warden-cpi-agent-env.json'], user: 'root' });
      assert.equal(inside.exitStatus, 0, inside.stderr);
      const guest = JSON.parse(inside.stdout) as PersistentSettings;
      assert.equal(guest.agent_id, `agent-${index}`);
      assert.deepEqual(guest.disks.persistent, expected, `settings inside ${vm}`);
      assert.deepEqual(await env.ok('get_disks', [vm]), [disk]);
    }

    await Promise.all(range(COUNT).map((index) => env.ok('detach_disk', [vms[index], disks[index]])));
    for (const vm of vms) {
      const host = JSON.parse(await readFile(join(env.dirs.stateDir, 'vms', vm, 'agent-settings.json'), 'utf8')) as PersistentSettings;
      assert.deepEqual(host.disks.persistent ?? {}, {}, `no disk left in the settings of ${vm}`);
    }
    await Promise.all([...vms.map((vm) => env.ok('delete_vm', [vm])), ...disks.map((disk) => env.ok('delete_disk', [disk]))]);
    await env.ok('delete_stemcell', [stemcellCid]);

    assert.deepEqual(await env.leaks(), NO_LEAKS);
    assert.deepEqual(await readdir(join(env.dirs.stateDir, 'vms')).catch(() => []), [], 'no VM state left');
    assert.deepEqual(await readdir(env.dirs.disksDir).catch(() => []), [], 'no disk image left');
    assert.deepEqual(await readdir(env.dirs.persistentDir).catch(() => []), [], 'no persistent dir left');
    assert.deepEqual(await readdir(env.dirs.ephemeralDir).catch(() => []), [], 'no ephemeral dir left');
  });
});
