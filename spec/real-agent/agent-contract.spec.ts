// The CPI-agent contract proven with the real BOSH agent: a test stemcell built by
// scripts/test-stemcell.sh (Debian + runit + the agent from tools/bosh), VMs made by the built bin/cpi on
// a real gdn, and the agent driven over its own HTTPS mbus as bosh-cli drives it (docs/real-bosh.md).
// Runs in the real-peer pass of scripts/test.mjs (GARDEN_UNDER_TEST=real, TEST_STEMCELL_DIR set).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { type AgentMbus, agentMbus } from '../support/agent-mbus';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';
import { gardenUnderTest } from '../../testkit/garden-under-test';
import { NO_LEAKS } from '../../testkit/leak-checker';
import { type MbusCert, makeMbusCert } from '../support/mbus-certs';

const garden = gardenUnderTest();
const stemcellDir = process.env.TEST_STEMCELL_DIR;
const MBUS_PORT = 6868;
/** How long an agent may take from create_vm returning to its first pong (boot under load included). */
const BOOT_TIMEOUT_MS = 120_000;

const dynamicNetwork = { default: { type: 'dynamic', default: ['dns', 'gateway'], cloud_properties: {} } };

describe(
  'the real BOSH agent in garden-cpi VMs',
  {
    skip:
      (garden.kind !== 'real' || stemcellDir === undefined) &&
      'runs only in the real-peer pass (GARDEN_UNDER_TEST=real and TEST_STEMCELL_DIR: npm run test:real-agent)',
  },
  () => {
    let env: CpiEnvironment;
    let cert: MbusCert;
    let stemcellCid: string;
    const password = randomBytes(12).toString('hex');
    const agents = new Map<string, AgentMbus>();
    const timings: Record<string, number> = {};
    let firstVm = '';
    let secondVm = '';
    let diskCid = '';

    /** The agent's own log (svlogd's current file), for assertions and for the record. */
    const agentLog = (vm: string): Promise<string> => env.shell(vm, 'cat /var/vcap/bosh/log/@*.s /var/vcap/bosh/log/current 2>/dev/null || true');

    /** The agent log lines matching `pattern`, for the record (printed as a test diagnostic). */
    const excerpt = (log: string, pattern: RegExp): string[] =>
      log
        .split('\n')
        .filter((line) => pattern.test(line))
        .map((line) => line.slice(0, 300));

    /** create_vm as the Director sends it (api v2, env with the mbus certificate) and the agent's mbus client. */
    async function createVm(agentId: string, diskCids: string[] = []): Promise<{ vm: string; mbus: AgentMbus; created: number }> {
      const [vm] = await env.ok<[string]>('create_vm', [agentId, stemcellCid, {}, dynamicNetwork, diskCids, { bosh: { mbus: { cert } } }]);
      const created = Date.now();
      const ip = (await env.client.info(vm)).ContainerIP;
      const mbus = agentMbus({ host: ip, port: MBUS_PORT, user: 'mbus', password, ca: cert.ca });
      agents.set(vm, mbus);
      return { vm, mbus, created };
    }

    const mbusOf = (vm: string): AgentMbus => {
      const mbus = agents.get(vm);
      if (mbus === undefined) throw new Error(`no agent client for ${vm}`);
      return mbus;
    };

    const isStoreMounted = async (vm: string): Promise<boolean> =>
      (await env.shell(vm, 'if mountpoint -q /var/vcap/store; then echo yes; else echo no; fi')).trim() === 'yes';

    before(async () => {
      cert = await makeMbusCert();
      env = await startCpiEnvironment({
        garden,
        // The agent needs a blobstore to boot (docs/real-bosh.md); create-env's local one.
        config: {
          agent: {
            mbus: `https://mbus:${password}@0.0.0.0:${String(MBUS_PORT)}`,
            ntp: [],
            blobstore: { provider: 'local', options: { blobstore_path: '/var/vcap/micro_bosh/data/cache' } },
          },
        },
      });
      stemcellCid = await env.ok<string>('create_stemcell', [join(stemcellDir ?? '', 'image'), {}]);
    });

    after(async () => {
      if (Object.keys(timings).length > 0) console.log(`# real-agent timings (ms): ${JSON.stringify(timings)}`);
      await env?.close();
    });

    it('boots: create_vm, then the agent answers ping and get_state with our agent id, VM cid and networks', async (t) => {
      const { vm, mbus, created } = await createVm('agent-one');
      firstVm = vm;
      await mbus.waitForPing(BOOT_TIMEOUT_MS);
      timings.create_vm_to_first_ping = Date.now() - created;
      // The Director's first message after boot: apply with the instance's networks, a dynamic one
      // without an address (the agent fills it from its settings), then get_state.
      await mbus.task('apply', [
        {
          deployment: 'agent-contract',
          name: 'job',
          index: 0,
          id: 'instance-1',
          networks: dynamicNetwork,
          configuration_hash: '',
          job: { name: 'job', templates: [] },
          packages: {},
        },
      ]);
      const state = (await mbus.send('get_state', [])) as { agent_id: string; vm: { name: string }; networks: Record<string, { ip?: string }> };
      assert.equal(state.agent_id, 'agent-one');
      assert.equal(state.vm.name, vm);
      const ip = (await env.client.info(vm)).ContainerIP;
      assert.equal(state.networks.default?.ip, ip, `networks in get_state: ${JSON.stringify(state.networks)}`);
      const log = await agentLog(vm);
      const settingsLines = excerpt(log, /warden-cpi-agent-env\.json'|Successfully received settings/);
      assert.ok(settingsLines.length >= 2, 'the agent read its settings from the file the CPI wrote');
      t.diagnostic(`agent log:\n${settingsLines.join('\n')}`);
    });

    it('mounts an attached persistent disk at /var/vcap/store as the Director does (add_persistent_disk, mount_disk)', async (t) => {
      diskCid = await env.ok<string>('create_disk', [1024, {}, firstVm]);
      const attached = Date.now();
      const hint = await env.ok<unknown>('attach_disk', [firstVm, diskCid]);
      const mbus = mbusOf(firstVm);
      await mbus.task('add_persistent_disk', [diskCid, hint]);
      await mbus.task('mount_disk', [diskCid]);
      timings.attach_disk_to_mount_disk_done = Date.now() - attached;
      assert.ok(await isStoreMounted(firstVm), '/var/vcap/store is a mount point');
      const mountLines = excerpt(await agentLog(firstVm), /add_persistent_disk|mount_disk|Mounting persistent disk|\/var\/vcap\/store -o bind/);
      assert.ok(
        mountLines.some((line) => line.includes(`/warden-cpi-dev/${diskCid} /var/vcap/store -o bind`)),
        mountLines.join('\n'),
      );
      t.diagnostic(`agent log:\n${mountLines.join('\n')}`);
      assert.deepEqual(await mbus.task('list_disk', []), [diskCid]);
      await env.shell(firstVm, 'echo "written by the first VM" > /var/vcap/store/marker && sync');
    });

    it('keeps the data through unmount_disk, detach_disk and an attach to a second VM', async () => {
      // The Director's order: the agent unmounts, the CPI detaches, the agent forgets the disk. Under Garden
      // the agent's unmount leaves its bind at /var/vcap/store (docs/real-bosh.md): detach_disk removes it.
      await mbusOf(firstVm).task('unmount_disk', [diskCid]);
      await env.ok('detach_disk', [firstVm, diskCid]);
      assert.equal(await isStoreMounted(firstVm), false, 'after detach_disk nothing of the disk is mounted in the first VM');
      await mbusOf(firstVm).task('remove_persistent_disk', [diskCid]);

      const { vm, mbus } = await createVm('agent-two');
      secondVm = vm;
      await mbus.waitForPing(BOOT_TIMEOUT_MS);
      const hint = await env.ok<unknown>('attach_disk', [secondVm, diskCid]);
      await mbus.task('add_persistent_disk', [diskCid, hint]);
      await mbus.task('mount_disk', [diskCid]);
      assert.equal((await env.shell(secondVm, 'cat /var/vcap/store/marker')).trim(), 'written by the first VM');
    });

    it('reboot_vm: the agent answers ping again with the disk still mounted', async () => {
      await env.ok('reboot_vm', [secondVm]);
      const rebooted = Date.now();
      await mbusOf(secondVm).waitForPing(BOOT_TIMEOUT_MS);
      timings.reboot_vm_to_first_ping = Date.now() - rebooted;
      assert.ok(await isStoreMounted(secondVm), 'the agent mounted the disk again at boot');
      assert.equal((await env.shell(secondVm, 'cat /var/vcap/store/marker')).trim(), 'written by the first VM');
    });

    it('delete_vm, delete_disk and delete_stemcell leave nothing behind', async () => {
      await mbusOf(secondVm).task('unmount_disk', [diskCid]);
      await env.ok('detach_disk', [secondVm, diskCid]);
      await mbusOf(secondVm).task('remove_persistent_disk', [diskCid]);
      await env.ok('delete_vm', [firstVm]);
      await env.ok('delete_vm', [secondVm]);
      await env.ok('delete_disk', [diskCid]);
      await env.ok('delete_stemcell', [stemcellCid]);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
    });
  },
);
