import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type GardenEmulator, startGardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { busyboxStemcell } from '../../testkit/busybox-stemcell';
import { type CpiEnvironment, configActions, forceCleanup, startCpiEnvironment } from '../../testkit/cpi-environment';
import { BUNDLE, type CpiRun, runCpi } from '../../testkit/cpi-process';
import { type CpiDirs, findLeaks, mountsUnder, NO_LEAKS } from '../../testkit/leak-checker';
import { manualNetworks } from '../../testkit/networks';

const run = promisify(execFile);

const NETWORKS = manualNetworks('10.244.0.20');

// ---- the table of fault case -> answer, printed and written for the closing note ----

interface FaultRow {
  fault: string;
  call: string;
  type: string;
  okToRetry: string;
  message: string;
}
const table: FaultRow[] = [];

function record(fault: string, call: string, result: CpiRun): CpiRun['response'] {
  const error = result.response.error;
  table.push({
    fault,
    call,
    type: error === null ? '(success)' : error.type,
    okToRetry: error === null ? '' : String(error.ok_to_retry),
    message: error === null ? JSON.stringify(result.response.result) : error.message,
  });
  return result.response;
}

function renderTable(): string {
  const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  return [
    '| fault | call | error type | ok_to_retry | message (or result) |',
    '|---|---|---|---|---|',
    ...table.map((row) => `| ${cell(row.fault)} | ${row.call} | ${row.type} | ${row.okToRetry} | ${cell(row.message)} |`),
    '',
  ].join('\n');
}

// ---- helpers ----

function requestBody(method: string, args: unknown[]): string {
  return JSON.stringify({ method, arguments: args, api_version: 2, context: { director_uuid: 'faults-director', request_id: `faults-${method}` } });
}

/** One call with another config file (same dirs, other Garden address). */
function callWith(configPath: string, method: string, args: unknown[]): Promise<CpiRun> {
  return runCpi(configPath, requestBody(method, args));
}

/** A bin/cpi process the test can SIGKILL mid-call. */
function spawnCpi(configPath: string, method: string, args: unknown[], path = '/usr/sbin:/usr/bin:/sbin:/bin') {
  const child = spawn(process.execPath, [BUNDLE, configPath], { env: { PATH: path }, stdio: ['pipe', 'pipe', 'pipe'] });
  let exited = false;
  const done = new Promise<{ status: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (status, signal) => {
      exited = true;
      resolve({ status, signal });
    }),
  );
  child.stdout.resume();
  child.stderr.resume();
  child.stdin.on('error', () => undefined);
  child.stdin.end(requestBody(method, args));
  return { child, done, exited: () => exited };
}

async function waitFor(what: string, condition: () => Promise<boolean> | boolean, isDone: () => boolean, timeoutMs = 20000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (isDone()) throw new Error(`the CPI exited before ${what}: the kill window was missed`);
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

async function configWithGarden(env: CpiEnvironment, name: string, network: string, address: string): Promise<string> {
  const config = JSON.parse(await readFile(env.configPath, 'utf8')) as Record<string, unknown>;
  const path = join(env.dir, name);
  await writeFile(path, JSON.stringify({ ...config, warden: { connect_network: network, connect_address: address } }));
  return path;
}

async function closedTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const vmStates = (env: { dirs: CpiDirs }): Promise<string[]> => readdir(join(env.dirs.stateDir, 'vms')).catch(() => []);

/** create_vm + delete_vm through the environment's own config: "the next call succeeds". */
async function roundTripVm(env: CpiEnvironment, stemcellCid: string): Promise<void> {
  const [vm] = await env.ok<[string]>('create_vm', ['agent-next', stemcellCid, {}, NETWORKS, [], {}]);
  await env.ok('delete_vm', [vm]);
}

/** A stemcell `image` (gzipped tar of `megabytes` of random bytes) with a stemcell.MF declaring its sha1. */
async function randomStemcell(dir: string, megabytes: number): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  await mkdir(join(rootfs, 'data'), { recursive: true });
  for (let index = 0; index < megabytes; index += 1) await writeFile(join(rootfs, 'data', `blob-${index}`), randomBytes(1024 * 1024));
  const image = join(dir, 'image');
  await run('sh', ['-c', 'tar --numeric-owner -cf - -C "$1" . | gzip -1 > "$2"', 'sh', rootfs, image]);
  await rm(rootfs, { recursive: true, force: true });
  const sha1 = createHash('sha1')
    .update(await readFile(image))
    .digest('hex');
  await writeFile(
    join(dir, 'stemcell.MF'),
    `name: random\nversion: '1'\nsha1: ${sha1}\noperating_system: ubuntu-jammy\napi_version: 3\ncloud_properties: {}\n`,
  );
  return image;
}

// ---- the suite ----

// The five groups share no host resource (each has its own CPI environment: dirs, emulator, tmpfs stores),
// so they run at the same time; the tests inside a group run one after another.
describe('faults through bin/cpi', { concurrency: true }, () => {
  after(async () => {
    const text = renderTable();
    // Printed, never written anywhere: a test writes only into its own temp dirs.
    console.log(`\nFault table:\n${text}`);
  });

  describe('Garden unreachable', { concurrency: 1 }, () => {
    let env: CpiEnvironment;
    let stemcellCid: string;
    let tcpConfig: string;
    let unixConfig: string;

    before(async () => {
      env = await startCpiEnvironment();
      stemcellCid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, {}]);
      tcpConfig = await configWithGarden(env, 'cpi-closed-port.json', 'tcp', `127.0.0.1:${await closedTcpPort()}`);
      unixConfig = await configWithGarden(env, 'cpi-removed-socket.json', 'unix', join(env.dir, 'removed-garden.sock'));
    });
    after(async () => {
      await env?.close();
    });

    for (const [kind, config] of [
      ['closed TCP port', () => tcpConfig],
      ['removed unix socket', () => unixConfig],
    ] as const) {
      it(`create_vm against a ${kind}: VMCreationFailed, ok_to_retry; the retry finishes the rollback`, async () => {
        const response = record(
          `Garden unreachable (${kind})`,
          'create_vm',
          await callWith(config(), 'create_vm', ['agent-x', stemcellCid, {}, NETWORKS, [], {}]),
        );
        assert.equal(response.error?.type, 'Bosh::Clouds::VMCreationFailed');
        assert.equal(response.error?.ok_to_retry, true);
        assert.match(response.error?.message ?? '', /Creating container/);
        assert.match(response.error?.message ?? '', kind === 'closed TCP port' ? /ECONNREFUSED|refused|unreachable/i : /ENOENT|unreachable|no such/i);
        // The container's rollback could not reach Garden either, so (by design) the VM's records and its
        // creating marker stay for the next create_vm to finish the rollback; mounts and dirs are gone.
        const left = await vmStates(env);
        assert.equal(left.length, 1, `one VM record kept: ${left.join(', ')}`);
        assert.ok((await readdir(join(env.dirs.stateDir, 'vms', left[0]!))).includes('creating.json'));
        assert.deepEqual(await readdir(env.dirs.ephemeralDir), []);
        assert.deepEqual(await readdir(env.dirs.persistentDir), []);
        assert.deepEqual(await env.leaks(), NO_LEAKS);
        await roundTripVm(env, stemcellCid);
        assert.deepEqual(await vmStates(env), [], 'the next create_vm rolled the record back');
        assert.deepEqual(await env.leaks(), NO_LEAKS);
      });
    }

    it('has_vm, attach/detach and delete_vm answer a clear CloudError: without Garden no one can tell whether the VM exists', async () => {
      const [vm] = await env.ok<[string]>('create_vm', ['agent-y', stemcellCid, {}, NETWORKS, [], {}]);
      const disk = await env.ok<string>('create_disk', [32, {}, vm]);

      const hasVm = record('Garden unreachable (closed TCP port)', 'has_vm', await callWith(tcpConfig, 'has_vm', [vm]));
      assert.equal(hasVm.error?.type, 'Bosh::Clouds::CloudError');
      assert.match(hasVm.error?.message ?? '', new RegExp(`Checking for VM '${vm}'.*(ECONNREFUSED|refused|unreachable)`, 'i'));

      // Host records do not make a VM exist (the container may be gone after a restart): Garden must say so.
      const attach = record('Garden unreachable (closed TCP port)', 'attach_disk', await callWith(tcpConfig, 'attach_disk', [vm, disk]));
      assert.equal(attach.error?.type, 'Bosh::Clouds::CloudError');
      assert.match(attach.error?.message ?? '', new RegExp(`Attaching disk '${disk}' to VM '${vm}'.*(ECONNREFUSED|refused|unreachable)`, 'i'));
      assert.deepEqual(await mountsUnder([join(env.dirs.persistentDir, vm, disk)]), [], 'nothing mounted');
      await env.ok('attach_disk', [vm, disk]);
      const detach = record('Garden unreachable (closed TCP port)', 'detach_disk', await callWith(tcpConfig, 'detach_disk', [vm, disk]));
      assert.equal(detach.error?.type, 'Bosh::Clouds::CloudError');
      assert.deepEqual(await env.ok('get_disks', [vm]), [disk], 'still attached');
      await env.ok('detach_disk', [vm, disk]);

      // delete_vm cannot know whether the container still exists: an error, and the host state is kept.
      const deleteVm = record('Garden unreachable (closed TCP port)', 'delete_vm (VM exists)', await callWith(tcpConfig, 'delete_vm', [vm]));
      assert.equal(deleteVm.error?.type, 'Bosh::Clouds::CloudError');
      assert.match(deleteVm.error?.message ?? '', new RegExp(`Deleting VM '${vm}'.*Destroying container`, 'i'));
      assert.deepEqual(await vmStates(env), [vm], 'host state kept for the retry');
      assert.deepEqual(env.garden.containerHandles(), [vm]);

      // A VM without any host state: Garden is still the only one who knows, so also an error.
      const unknown = record(
        'Garden unreachable (closed TCP port)',
        'delete_vm (no host state)',
        await callWith(tcpConfig, 'delete_vm', ['vm-without-state']),
      );
      assert.equal(unknown.error?.type, 'Bosh::Clouds::CloudError');
      assert.match(unknown.error?.message ?? '', /Destroying container/);

      await env.ok('delete_vm', [vm]);
      await env.ok('delete_disk', [disk]);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
      await roundTripVm(env, stemcellCid);
    });
  });

  describe('Garden restarted between calls (its containers are gone)', { concurrency: 1 }, () => {
    let env: CpiEnvironment;
    const gardens: GardenEmulator[] = [];

    before(async () => {
      env = await startCpiEnvironment();
    });
    after(async () => {
      for (const garden of gardens) await garden.close();
      await env?.close();
    });

    // TCP: the environment's Garden, restarted on its port; detach then delete_vm, as a Director's cck does.
    // Unix socket: a Garden of our own, restarted on the same socket path; delete_vm with the disk still attached.
    for (const network of ['tcp', 'unix'] as const) {
      it(`${network}: has_vm answers false, delete_vm cleans the host state and succeeds, the next create_vm works`, async () => {
        let garden = env.garden;
        let config = env.configPath;
        if (network === 'unix') {
          garden = await startGardenEmulator({ listen: { socketPath: join(env.dir, 'garden.sock') }, stateDir: join(env.dir, 'garden-unix') });
          gardens.push(garden);
          config = await configWithGarden(env, 'cpi-unix.json', 'unix', garden.address.address);
        }
        const ok = async <T>(method: string, args: unknown[]): Promise<T> => {
          const response = (await callWith(config, method, args)).response;
          assert.equal(response.error, null, `${method}: ${JSON.stringify(response.error)}`);
          return response.result as T;
        };
        const stemcellCid = await ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, {}]);
        const [vm] = await ok<[string]>('create_vm', ['agent-r', stemcellCid, {}, NETWORKS, [], {}]);
        const disk = await ok<string>('create_disk', [32, {}, vm]);
        await ok('attach_disk', [vm, disk]);
        assert.deepEqual(garden.containerHandles(), [vm]);

        await garden.close();
        const restarted = await startGardenEmulator({
          listen:
            network === 'tcp' ? { host: '127.0.0.1', port: Number(garden.address.address.split(':')[1]) } : { socketPath: garden.address.address },
          stateDir: join(env.dir, `garden-restarted-${network}`),
        });
        gardens.push(restarted);
        const leaks = () => findLeaks(env.dirs, () => restarted.containerHandles());

        const fault = `Garden restarted (${network})`;
        const hasVm = record(fault, 'has_vm', await callWith(config, 'has_vm', [vm]));
        assert.deepEqual(hasVm, { ...hasVm, result: false, error: null });
        if (network === 'tcp') {
          const detach = record(fault, 'detach_disk', await callWith(config, 'detach_disk', [vm, disk]));
          assert.equal(detach.error, null);
        }
        const deleteVm = record(
          fault,
          network === 'tcp' ? 'delete_vm' : 'delete_vm (disk still attached)',
          await callWith(config, 'delete_vm', [vm]),
        );
        assert.equal(deleteVm.error, null);
        assert.deepEqual(await vmStates(env), []);
        assert.deepEqual(await leaks(), NO_LEAKS);

        const [next] = await ok<[string]>('create_vm', ['agent-r2', stemcellCid, {}, NETWORKS, [], {}]);
        assert.deepEqual(restarted.containerHandles(), [next]);
        await ok('attach_disk', [next, disk]);
        await ok('detach_disk', [next, disk]);
        await ok('delete_vm', [next]);
        await ok('delete_disk', [disk]);
        await ok('delete_stemcell', [stemcellCid]);
        assert.deepEqual(await leaks(), NO_LEAKS);
      });
    }
  });

  describe('Garden answering errors during create_vm and attach_disk', { concurrency: 1 }, () => {
    let env: CpiEnvironment;
    let stemcellCid: string;

    before(async () => {
      env = await startCpiEnvironment();
      stemcellCid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, {}]);
    });
    after(async () => {
      await env?.close();
    });

    const cases = [
      {
        step: 'POST /containers',
        path: '/containers',
        method: 'POST',
        status: 500,
        type: 'Bosh::Clouds::CloudError',
        retry: false,
        context: /Creating container/,
      },
      {
        step: 'POST /containers',
        path: '/containers',
        method: 'POST',
        status: 503,
        type: 'Bosh::Clouds::VMCreationFailed',
        retry: true,
        context: /Creating container/,
      },
      {
        step: 'POST /containers',
        path: '/containers',
        method: 'POST',
        status: 502,
        type: 'Bosh::Clouds::VMCreationFailed',
        retry: true,
        context: /Creating container/,
      },
      {
        step: 'POST /containers (dropped connection)',
        path: '/containers',
        method: 'POST',
        drop: true,
        type: 'Bosh::Clouds::VMCreationFailed',
        retry: true,
        context: /Creating container/,
      },
      {
        step: 'POST /containers/:handle/processes',
        path: '/containers/:handle/processes',
        method: 'POST',
        status: 500,
        type: 'Bosh::Clouds::CloudError',
        retry: false,
        context: /Starting the agent/,
      },
      {
        step: 'POST /containers/:handle/processes',
        path: '/containers/:handle/processes',
        method: 'POST',
        status: 503,
        type: 'Bosh::Clouds::VMCreationFailed',
        retry: true,
        context: /Starting the agent/,
      },
    ] as const;

    for (const fault of cases) {
      const label = `${fault.step} -> ${'drop' in fault ? 'dropped' : fault.status}`;
      it(`create_vm with ${label}: ${fault.type.split('::').pop()} ok_to_retry=${String(fault.retry)}, rolled back`, async () => {
        env.garden.injectFault({
          method: fault.method,
          path: fault.path,
          ...('drop' in fault ? { drop: true } : { status: fault.status, message: `injected ${fault.status}` }),
          times: 1,
        });
        try {
          const response = record(`Garden ${label}`, 'create_vm', await env.call('create_vm', ['agent-f', stemcellCid, {}, NETWORKS, [], {}]));
          assert.equal(response.error?.type, fault.type, response.error?.message);
          assert.equal(response.error?.ok_to_retry, fault.retry);
          assert.match(response.error?.message ?? '', fault.context);
          if (!('drop' in fault)) assert.match(response.error?.message ?? '', new RegExp(`injected ${fault.status}`));
        } finally {
          env.garden.clearFaults();
        }
        assert.deepEqual(await vmStates(env), []);
        assert.deepEqual(await env.leaks(), NO_LEAKS);
        await roundTripVm(env, stemcellCid);
        assert.deepEqual(await env.leaks(), NO_LEAKS);
      });
    }

    it('create_vm (no port forwarding) makes exactly the two Garden requests faulted above', async () => {
      env.garden.resetRecords();
      const [vm] = await env.ok<[string]>('create_vm', ['agent-routes', stemcellCid, {}, NETWORKS, [], {}]);
      assert.deepEqual(
        env.garden.requests.map((request) => `${request.method} ${request.path}`),
        ['POST /containers', `POST /containers/${vm}/processes`],
      );
      await env.ok('delete_vm', [vm]);
    });

    it('delete_vm with Garden answering 500 on destroy: CloudError, host state kept, the retry succeeds', async () => {
      const [vm] = await env.ok<[string]>('create_vm', ['agent-d', stemcellCid, {}, NETWORKS, [], {}]);
      env.garden.injectFault({ method: 'DELETE', path: '/containers/:handle', status: 500, message: 'injected 500', times: 1 });
      const response = record('Garden DELETE /containers/:handle -> 500', 'delete_vm', await env.call('delete_vm', [vm]));
      env.garden.clearFaults();
      assert.equal(response.error?.type, 'Bosh::Clouds::CloudError');
      assert.match(response.error?.message ?? '', new RegExp(`Deleting VM '${vm}': Destroying container: .*injected 500`));
      assert.deepEqual(await vmStates(env), [vm], 'host state kept until the container is really gone');
      await env.ok('delete_vm', [vm]);
      assert.deepEqual(await vmStates(env), []);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
    });

    it('attach_disk and detach_disk of our VM make one Garden request (the list of handles); a failing Garden refuses them, changing nothing', async () => {
      const [vm] = await env.ok<[string]>('create_vm', ['agent-a', stemcellCid, {}, NETWORKS, [], {}]);
      const disk = await env.ok<string>('create_disk', [32, {}, vm]);
      env.garden.resetRecords();
      await env.ok('attach_disk', [vm, disk]);
      await env.ok('detach_disk', [vm, disk]);
      assert.deepEqual(
        env.garden.requests.map((request) => `${request.method} ${request.path}`),
        ['GET /containers', 'GET /containers'],
      );
      env.garden.injectFault({ path: /.*/, status: 500, message: 'injected 500 on every route' });
      try {
        const attach = record('Garden 500 on every route', 'attach_disk', await env.call('attach_disk', [vm, disk]));
        assert.equal(attach.error?.type, 'Bosh::Clouds::CloudError');
        assert.match(attach.error?.message ?? '', /injected 500/);
        assert.deepEqual(await mountsUnder([join(env.dirs.persistentDir, vm, disk)]), [], 'nothing mounted');
      } finally {
        env.garden.clearFaults();
      }
      await env.ok('delete_vm', [vm]);
      await env.ok('delete_disk', [disk]);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
    });
  });

  describe('SIGKILL of the CPI mid-call', { concurrency: 1 }, () => {
    let env: CpiEnvironment;
    let work: string;

    before(async () => {
      env = await startCpiEnvironment();
      work = await mkdtemp(join(tmpdir(), 'cpi-faults-kill-'));
    });
    after(async () => {
      await env?.close();
      if (work !== undefined) await rm(work, { recursive: true, force: true });
    });

    it('during create_stemcell (unpacking a 48 MiB image): the next import of the same image succeeds and cleans up', async () => {
      const image = await randomStemcell(work, 48);
      const cpi = spawnCpi(env.configPath, 'create_stemcell', [image, {}]);
      const importing = async () => (await readdir(env.dirs.stemcellsDir).catch(() => [])).some((name) => name.startsWith('.stemcell.import-'));
      await waitFor('the import temp dir to appear', importing, cpi.exited);
      cpi.child.kill('SIGKILL');
      assert.equal((await cpi.done).signal, 'SIGKILL');
      const left = await env.leaks();
      assert.ok(left.tempFiles.length > 0 || left.lockFiles.length > 0, `the kill left its import behind: ${JSON.stringify(left)}`);
      table.push({
        fault: 'SIGKILL during create_stemcell',
        call: 'create_stemcell',
        type: '(killed)',
        okToRetry: '',
        message: `left: ${[...left.tempFiles, ...left.lockFiles].map((p) => p.split('/').pop()).join(', ')}`,
      });

      const retried = record('after SIGKILL during create_stemcell', 'create_stemcell (same image)', await env.call('create_stemcell', [image, {}]));
      assert.equal(retried.error, null);
      const cid = retried.result as string;
      const entries = await readdir(env.dirs.stemcellsDir);
      assert.deepEqual(
        entries.filter((name) => name.startsWith('.stemcell.import-')),
        [],
        `no import leftover: ${entries.join(', ')}`,
      );
      assert.deepEqual(await env.leaks(), NO_LEAKS);
      await env.ok('delete_stemcell', [cid]);
      assert.deepEqual(await readdir(env.dirs.stemcellsDir), []);
    });

    it('during create_vm (after Garden got the create): the next create_vm rolls the orphan back', async () => {
      const stemcellCid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, {}]);
      env.garden.resetRecords();
      // Hold the answer so the kill lands while the create is in flight; Garden still makes the container.
      env.garden.injectFault({ method: 'POST', path: '/containers', delayMs: 300, times: 1 });
      const cpi = spawnCpi(env.configPath, 'create_vm', ['agent-killed', stemcellCid, {}, NETWORKS, [], {}]);
      await waitFor('the Garden create request', () => env.garden.requests.some((r) => r.method === 'POST' && r.path === '/containers'), cpi.exited);
      cpi.child.kill('SIGKILL');
      assert.equal((await cpi.done).signal, 'SIGKILL');
      const [orphan] = await vmStates(env);
      assert.ok(orphan !== undefined, 'the killed create_vm left its host state');
      await waitFor(
        'Garden to finish the orphan container',
        () => env.garden.containerHandles().includes(orphan),
        () => false,
        5000,
      );
      const marker = await readFile(join(env.dirs.stateDir, 'vms', orphan, 'creating.json'), 'utf8');
      table.push({
        fault: 'SIGKILL during create_vm',
        call: 'create_vm',
        type: '(killed)',
        okToRetry: '',
        message: `left container ${orphan} + creating marker ${marker.trim()}`,
      });

      const next = record(
        'after SIGKILL during create_vm',
        'create_vm',
        await env.call('create_vm', ['agent-next', stemcellCid, {}, NETWORKS, [], {}]),
      );
      assert.equal(next.error, null);
      const [vm] = next.result as [string];
      assert.deepEqual(env.garden.containerHandles(), [vm], 'the orphan container is destroyed');
      assert.deepEqual(await vmStates(env), [vm], 'the orphan host state is removed');
      await env.ok('delete_vm', [vm]);
      await env.ok('delete_stemcell', [stemcellCid]);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
    });

    it('during create_disk (in mkfs): the next create_disk succeeds and the half-made image is cleaned up', async () => {
      // mkfs.ext4 takes ~10 ms here: a stand-in first on PATH records its pid and hangs, holding the window open.
      const bin = join(work, 'slow-bin');
      const pidFile = join(work, 'mkfs.pid');
      await mkdir(bin, { recursive: true });
      await writeFile(join(bin, 'mkfs.ext4'), `#!/bin/sh\necho $$ > ${pidFile}\nexec sleep 60\n`, { mode: 0o755 });
      const cpi = spawnCpi(env.configPath, 'create_disk', [64, {}, null], `${bin}:/usr/sbin:/usr/bin:/sbin:/bin`);
      const inMkfs = async () => (await readFile(pidFile, 'utf8').catch(() => '')).endsWith('\n');
      await waitFor('mkfs.ext4 to start', inMkfs, cpi.exited);
      cpi.child.kill('SIGKILL');
      assert.equal((await cpi.done).signal, 'SIGKILL');
      // The CPI's child outlives it (as it would under a real kill): end it, it is ours.
      process.kill(Number(await readFile(pidFile, 'utf8')), 'SIGKILL');
      const leftover = (await readdir(env.dirs.disksDir)).filter((name) => /\.creating-\d+-\d+-[0-9a-f]+$/.test(name));
      assert.equal(leftover.length, 1, 'the killed create_disk leaves its half-made image under a temp name');
      table.push({
        fault: 'SIGKILL during create_disk',
        call: 'create_disk',
        type: '(killed)',
        okToRetry: '',
        message: `left: ${leftover.join(', ')}`,
      });

      const next = record('after SIGKILL during create_disk', 'create_disk', await env.call('create_disk', [64, {}, null]));
      assert.equal(next.error, null);
      const disk = next.result as string;
      await env.ok('delete_disk', [disk]);
      try {
        assert.deepEqual(await readdir(env.dirs.disksDir), [], 'the killed create_disk left its image behind');
      } finally {
        // Keep the rest of this describe's leak checks meaningful whatever the CPI does.
        for (const name of leftover) await rm(join(env.dirs.disksDir, name), { force: true });
      }
    });

    it('during attach_disk (after the mount, before the settings): a retried attach and detach complete', async () => {
      const stemcellCid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, {}]);
      const [vm] = await env.ok<[string]>('create_vm', ['agent-k', stemcellCid, {}, NETWORKS, [], {}]);
      const disk = await env.ok<string>('create_disk', [32, {}, vm]);
      // Hold the VM's settings lock (from another process, src/host/file-lock.ts) so attach stops right after mounting.
      const holder = spawn(
        process.execPath,
        ['--import', 'tsx', join(__dirname, '../host/lock-holder.ts'), join(env.dirs.stateDir, 'locks'), `vm-${vm}`],
        {
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      await new Promise<void>((resolve, reject) => {
        holder.stdout.once('data', () => resolve());
        holder.once('exit', (code) => reject(new Error(`the lock holder exited ${String(code)}`)));
      });
      try {
        const cpi = spawnCpi(env.configPath, 'attach_disk', [vm, disk]);
        const target = join(env.dirs.persistentDir, vm, disk);
        await waitFor('the disk mount', async () => (await mountsUnder([target])).length > 0, cpi.exited);
        cpi.child.kill('SIGKILL');
        assert.equal((await cpi.done).signal, 'SIGKILL');
      } finally {
        holder.kill('SIGKILL');
        await new Promise((resolve) => holder.once('exit', resolve));
      }
      const settings = () =>
        readFile(join(env.dirs.stateDir, 'vms', vm, 'agent-settings.json'), 'utf8').then(
          (text) => JSON.parse(text) as { disks: { persistent: Record<string, string> | null } },
        );
      assert.deepEqual((await settings()).disks.persistent ?? {}, {}, 'killed before the settings were written');
      const left = await env.leaks();
      assert.ok(left.mounts.includes(join(env.dirs.persistentDir, vm, disk)), `the disk mount stays: ${JSON.stringify(left)}`);
      table.push({ fault: 'SIGKILL during attach_disk', call: 'attach_disk', type: '(killed)', okToRetry: '', message: 'left mount' });

      const attach = record('after SIGKILL during attach_disk', 'attach_disk (retried)', await env.call('attach_disk', [vm, disk]));
      assert.equal(attach.error, null);
      assert.deepEqual((await settings()).disks.persistent, { [disk]: `/warden-cpi-dev/${disk}` });
      assert.deepEqual(await env.ok('get_disks', [vm]), [disk]);
      const detach = record('after SIGKILL during attach_disk', 'detach_disk', await env.call('detach_disk', [vm, disk]));
      assert.equal(detach.error, null);
      assert.deepEqual((await settings()).disks.persistent ?? {}, {});
      await env.ok('delete_vm', [vm]);
      await env.ok('delete_disk', [disk]);
      await env.ok('delete_stemcell', [stemcellCid]);
      assert.deepEqual(await env.leaks(), NO_LEAKS);
    });
  });

  describe('disk full (small tmpfs stores)', { concurrency: 1 }, () => {
    let env: CpiEnvironment;
    let small: string;
    let dirs: CpiDirs;
    const mounted: string[] = [];

    before(async () => {
      small = await mkdtemp(join(tmpdir(), 'cpi-faults-full-'));
      for (const [name, size] of [
        ['stemcells', '8m'],
        ['disks', '2m'],
      ] as const) {
        await mkdir(join(small, name));
        await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', join(small, name)]);
        mounted.push(join(small, name));
      }
      env = await startCpiEnvironment();
      // The stores live one level below the tmpfs roots, so the leak check does not see the tmpfs itself.
      dirs = { ...env.dirs, stemcellsDir: join(small, 'stemcells', 'store'), disksDir: join(small, 'disks', 'store') };
      const config = JSON.parse(await readFile(env.configPath, 'utf8')) as Record<string, unknown>;
      await writeFile(
        env.configPath,
        JSON.stringify({
          ...config,
          actions: configActions(dirs),
        }),
      );
    });
    after(async () => {
      await env?.close();
      for (const target of mounted.reverse()) await run('umount', ['-l', target]).catch(() => undefined);
      if (small !== undefined) await forceCleanup(small);
    });

    it('create_stemcell of an image larger than the store: a clear error, nothing left, a smaller import succeeds', async () => {
      const image = await randomStemcell(await mkdtemp(join(small, 'image-')), 12);
      const response = record('stemcells_dir full (8 MiB tmpfs, 12 MiB image)', 'create_stemcell', await env.call('create_stemcell', [image, {}]));
      assert.ok(response.error !== null);
      // NoDiskSpace is about disks (create/resize/snapshot): a stemcell store that is full is a CloudError saying so.
      assert.equal(response.error.type, 'Bosh::Clouds::CloudError');
      assert.match(response.error.message, /no space left on device/i);
      assert.deepEqual(await readdir(dirs.stemcellsDir), [], 'no partial import left');
      assert.deepEqual(await findLeaks(dirs, () => env.garden.containerHandles()), NO_LEAKS);

      const cid = await env.ok<string>('create_stemcell', [(await busyboxStemcell()).imagePath, {}]);
      await env.ok('delete_stemcell', [cid]);
      assert.deepEqual(await readdir(dirs.stemcellsDir), []);
      assert.deepEqual(await findLeaks(dirs, () => env.garden.containerHandles()), NO_LEAKS);
    });

    it('create_disk whose filesystem metadata does not fit: a clear error, nothing left, a smaller disk succeeds', async () => {
      const response = record('disks_dir full (2 MiB tmpfs, 100 GiB disk)', 'create_disk', await env.call('create_disk', [102400, {}, null]));
      assert.ok(response.error !== null);
      assert.equal(response.error.type, 'Bosh::Clouds::NoDiskSpace');
      assert.equal(response.error.ok_to_retry, false);
      assert.match(
        response.error.message,
        new RegExp(
          `^Creating disk '[^']+' of 102400 MiB: disks_dir '${dirs.disksDir}' cannot hold a new 102400 MiB image: .*no space left on device`,
          'i',
        ),
      );
      assert.deepEqual(await readdir(dirs.disksDir), [], 'no half-made image left');
      assert.deepEqual(await findLeaks(dirs, () => env.garden.containerHandles()), NO_LEAKS);

      const disk = await env.ok<string>('create_disk', [64, {}, null]);
      await env.ok('delete_disk', [disk]);
      assert.deepEqual(await readdir(dirs.disksDir), []);
      assert.deepEqual(await findLeaks(dirs, () => env.garden.containerHandles()), NO_LEAKS);
    });

    it('resize_disk and snapshot_disk that the disks dir cannot hold: NoDiskSpace, the disk unharmed', async () => {
      const disk = await env.ok<string>('create_disk', [64, {}, null]);
      const grow = record('disks_dir full (2 MiB tmpfs, grow 64 MiB to 100 GiB)', 'resize_disk', await env.call('resize_disk', [disk, 102400]));
      assert.equal(grow.error?.type, 'Bosh::Clouds::NoDiskSpace', JSON.stringify(grow.error));
      assert.equal(grow.error?.ok_to_retry, false);
      assert.match(grow.error?.message ?? '', new RegExp(`disks_dir '${dirs.disksDir}' cannot hold the image grown to 102400 MiB`));
      await run('e2fsck', ['-f', '-n', join(dirs.disksDir, disk)]);

      // Fill the store so that a copy of the image cannot fit.
      const filler = join(dirs.disksDir, '..', 'filler');
      await run('sh', ['-c', 'dd if=/dev/zero of="$1" bs=64k 2>/dev/null || true', 'sh', filler]);
      try {
        const snapshot = record('disks_dir full (filled)', 'snapshot_disk', await env.call('snapshot_disk', [disk, {}]));
        assert.equal(snapshot.error?.type, 'Bosh::Clouds::NoDiskSpace', JSON.stringify(snapshot.error));
        assert.match(snapshot.error?.message ?? '', new RegExp(`disks_dir '${dirs.disksDir}' cannot hold a copy of disk '${disk}'`));
        assert.deepEqual(await readdir(join(dirs.disksDir, 'snapshots')), [], 'no partial copy left');
      } finally {
        await rm(filler, { force: true });
      }
      await env.ok('delete_disk', [disk]);
      assert.deepEqual(await findLeaks(dirs, () => env.garden.containerHandles()), NO_LEAKS);
    });
  });
});
