// The fault cases that a real server can show, on a real gdn through the built bin/cpi (the emulator-only
// ones, injected Garden errors, stay in spec/lifecycle/faults.spec.ts). Real-Garden pass only.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { busyboxStemcell } from '../../testkit/busybox-stemcell';
import { BUNDLE } from '../../testkit/cpi-process';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';
import { gardenUnderTest } from '../../testkit/garden-under-test';
import { NO_LEAKS, mountsUnder } from '../../testkit/leak-checker';
import { manualNetworks } from '../../testkit/networks';

const NETWORKS = manualNetworks('10.244.3.10');

const garden = gardenUnderTest();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, condition: () => Promise<boolean>, timeoutMs = 20_000, stopIf: () => boolean = () => false): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (stopIf()) throw new Error(`gave up waiting for ${what}`);
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe(
  'faults on a real gdn through bin/cpi',
  { skip: garden.kind !== 'real' && 'runs only against a real gdn (npm run test:real-garden)' },
  () => {
    let env: CpiEnvironment;
    let stemcellCid: string;

    before(async () => {
      env = await startCpiEnvironment({ garden });
      stemcellCid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, null]);
    });
    after(async () => {
      await env?.close();
    });

    it('the container is gone (a gdn restart): has_vm false, detach and delete_vm clean the host, the next VM gets the disk', async () => {
      const [vm] = await env.ok<[string]>('create_vm', ['agent-gone', stemcellCid, {}, NETWORKS, [], {}]);
      const disk = await env.ok<string>('create_disk', [32, {}, vm]);
      await env.ok('attach_disk', [vm, disk]);
      // What gdn's destroy-containers-on-startup does to every container.
      await env.client.destroy(vm);
      assert.equal(await env.ok('has_vm', [vm]), false);
      await env.ok('detach_disk', [vm, disk]);
      await env.ok('delete_vm', [vm]);
      assert.deepEqual(await readdir(join(env.dirs.stateDir, 'vms')).catch(() => []), []);
      assert.deepEqual(await env.leaks(), NO_LEAKS);

      const [next] = await env.ok<[string]>('create_vm', ['agent-next', stemcellCid, {}, NETWORKS, [disk], {}]);
      await env.ok('attach_disk', [next, disk]);
      await env.ok('detach_disk', [next, disk]);
      await env.ok('delete_vm', [next]);
      await env.ok('delete_disk', [disk]);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
    });

    it('SIGKILL of create_vm once its root is mounted: the next create_vm rolls back the container, root and records', async () => {
      const child = spawn(process.execPath, [BUNDLE, env.configPath], {
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      let exited = false;
      const done = new Promise<NodeJS.Signals | null>((resolve) => child.once('close', (_status, signal) => ((exited = true), resolve(signal))));
      child.stdin.end(
        JSON.stringify({ method: 'create_vm', arguments: ['agent-killed', stemcellCid, {}, NETWORKS, [], {}], context: {}, api_version: 2 }),
      );
      const rootfsRoot = join(env.dirs.stateDir, 'rootfs');
      // The overlay is mounted just before the Garden create, which takes far longer than the poll interval.
      await until(
        'the VM root to be mounted',
        async () => (await mountsUnder([rootfsRoot])).length > 0,
        20_000,
        () => exited,
      );
      child.kill('SIGKILL');
      assert.equal(await done, 'SIGKILL');
      const [orphan] = await readdir(join(env.dirs.stateDir, 'vms'));
      assert.ok(orphan !== undefined, 'the killed create_vm left its host state');
      // gdn finishes a create whose client went away: let it settle before the next call reaps it.
      await sleep(3000);

      const [vm] = await env.ok<[string]>('create_vm', ['agent-next', stemcellCid, {}, NETWORKS, [], {}]);
      assert.deepEqual(await env.containerHandles(), [vm], 'the orphan container is destroyed');
      assert.deepEqual(await readdir(join(env.dirs.stateDir, 'vms')), [vm], 'the orphan records are removed');
      assert.deepEqual(await readdir(rootfsRoot), [vm], 'the orphan root is unmounted and removed');
      await env.ok('delete_vm', [vm]);
      await env.ok('delete_stemcell', [stemcellCid]);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
    });
  },
);
