import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  type GardenClient,
  GardenContainerNotFound,
  GardenError,
  GardenExecutableNotFound,
  GardenServiceUnavailable,
  GardenUnreachable,
  GardenUnrecoverable,
  createGardenClient,
} from '../../src/garden/garden-client';
import { readFirstTarFile, tarFromEntries } from '../../src/garden/garden-tar';
import { type GardenEmulator, startGardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { silentLogger } from '../../src/log/logger';
import { busyboxRootfs } from '../../testkit/rootfs';

// Contract tests: the client against the in-repo Garden emulator (gdn's wire format), on TCP and on a
// unix socket, with real processes (exec mode) in a minimal rootfs.

const run = promisify(execFile);

for (const network of ['tcp', 'unix'] as const) {
  describe(`Garden client contract over ${network}`, () => {
    let dir = '';
    let rootfs = '';
    let emulator: GardenEmulator;
    let garden: GardenClient;
    let nextHandle = 0;
    const handleFor = (name: string) => `${network}-${name}-${(nextHandle += 1)}`;

    /** Connections the emulator accepted while `work` ran. */
    async function connectionsDuring(work: () => Promise<unknown>): Promise<number> {
      const before = emulator.connectionCount();
      await work();
      return emulator.connectionCount() - before;
    }

    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), `garden-contract-${network}-`));
      rootfs = await busyboxRootfs(path.join(dir, 'rootfs'));
      emulator = await startGardenEmulator({
        listen: network === 'tcp' ? { port: 0 } : { socketPath: path.join(dir, 'garden.sock') },
        stateDir: path.join(dir, 'state'),
        processMode: 'exec',
      });
      assert.equal(emulator.address.network, network);
      garden = createGardenClient({ ...emulator.address, logger: silentLogger, retry: { attempts: 3, initialDelayMs: 5 } });
    });

    after(async () => {
      await emulator?.close();
      await rm(dir, { recursive: true, force: true });
    });

    async function createContainer(name: string, extra: Partial<Parameters<GardenClient['create']>[0]> = {}): Promise<string> {
      return garden.create({ handle: handleFor(name), image: { uri: rootfs }, privileged: true, ...extra });
    }

    it('creates, lists with property filters, reads info, and destroys', async () => {
      const handle = handleFor('vm');
      let created = '';
      const connections = await connectionsDuring(async () => {
        created = await garden.create({
          handle,
          image: { uri: rootfs },
          privileged: true,
          network: '10.244.0.34/24',
          properties: { 'bosh.agent_id': `agent-${handle}` },
          env: ['FOO=bar'],
          limits: { memory_limits: { limit_in_bytes: 1 << 30 }, cpu_limits: { weight: 512 } },
        });
      });
      assert.equal(created, handle);
      assert.equal(connections, 1);
      const request = emulator.requests.filter((r) => r.method === 'POST' && r.path === '/containers').at(-1);
      assert.equal(request?.headers['content-type'], 'application/json');

      assert.deepEqual(await garden.list({ 'bosh.agent_id': `agent-${handle}` }), [handle]);
      assert.deepEqual(await garden.list({ 'bosh.agent_id': 'nobody' }), []);
      assert.ok((await garden.list()).includes(handle));

      const info = await garden.info(handle);
      assert.equal(info.State, 'active');
      assert.equal(info.ContainerIP, '10.244.0.34');
      assert.equal(info.HostIP, '10.244.0.1');
      assert.equal(info.Properties['bosh.agent_id'], `agent-${handle}`);
      assert.deepEqual(info.MappedPorts, []);

      await garden.destroy(handle);
      await assert.rejects(garden.info(handle), GardenContainerNotFound);
      assert.deepEqual(await garden.list({ 'bosh.agent_id': `agent-${handle}` }), []);
    });

    it('sets, lists and removes properties', async () => {
      const handle = await createContainer('props', { properties: { a: '1' } });
      await garden.setProperty(handle, 'bosh.name', 'zookeeper/0');
      const all = await garden.properties(handle);
      assert.equal(all.a, '1');
      assert.equal(all['bosh.name'], 'zookeeper/0');
      assert.equal(all['garden.state'], 'created');
      await garden.removeProperty(handle, 'bosh.name');
      assert.equal((await garden.properties(handle))['bosh.name'], undefined);
      await garden.removeProperty(handle, 'never-set');
      const request = emulator.requests.filter((r) => r.method === 'PUT' && r.path.includes('/properties/')).at(-1);
      assert.deepEqual(request?.body, { value: 'zookeeper/0' });
      assert.equal(request?.headers['content-type'], 'application/json');
      await garden.destroy(handle);
    });

    it('stops a container (State "stopped") and still streams files of it', async () => {
      const handle = await createContainer('stop');
      await garden.stop(handle, false);
      assert.equal((await garden.info(handle)).State, 'stopped');
      await garden.streamIn(handle, { destination: '/var/vcap/bosh/' }, tarFromEntries([{ name: 'x.json', content: '{}' }]));
      assert.equal((await readFirstTarFile(await garden.streamOut(handle, { source: '/var/vcap/bosh/x.json' })))?.content.toString(), '{}');
      await garden.destroy(handle);
    });

    it('streams a file in and out in one connection each; a missing file is an empty tar', async () => {
      const handle = await createContainer('files');
      const content = `${JSON.stringify({ agent_id: 'agent-1' })}\n`;
      const tar = tarFromEntries([{ name: 'warden-cpi-agent-env.json', content, mode: 0o640 }]);
      assert.equal(await connectionsDuring(() => garden.streamIn(handle, { destination: '/var/vcap/bosh/' }, tar)), 1);
      const upload = emulator.requests.filter((r) => r.method === 'PUT' && r.path.endsWith('/files')).at(-1);
      assert.equal(upload?.headers['content-type'], 'application/x-tar');
      assert.equal(upload?.query.destination, '/var/vcap/bosh/');
      assert.equal(upload?.query.user, 'root');

      let file: Awaited<ReturnType<typeof readFirstTarFile>>;
      assert.equal(
        await connectionsDuring(async () => {
          file = await readFirstTarFile(await garden.streamOut(handle, { source: '/var/vcap/bosh/warden-cpi-agent-env.json' }));
        }),
        1,
      );
      assert.equal(file?.name, 'warden-cpi-agent-env.json');
      assert.equal(file?.content.toString(), content);
      assert.equal(await readFirstTarFile(await garden.streamOut(handle, { source: '/var/vcap/bosh/missing.json' })), undefined);
      // The process inside sees the file too.
      const cat = await garden.exec(handle, { path: '/bin/cat', args: ['/var/vcap/bosh/warden-cpi-agent-env.json'] });
      assert.equal(cat.stdout, content);
      await garden.destroy(handle);
    });

    it('runs processes with stdin, stdout, stderr and exit codes 0 and non-zero', async () => {
      const handle = await createContainer('proc', { env: ['GREETING=hi'] });
      let result: Awaited<ReturnType<GardenClient['exec']>> | undefined;
      const connections = await connectionsDuring(async () => {
        result = await garden.exec(handle, { path: '/bin/sh', args: ['-c', 'echo "out $GREETING"; echo err-line >&2; exit 3'], user: 'root' });
      });
      assert.deepEqual(result, { exitStatus: 3, stdout: 'out hi\n', stderr: 'err-line\n' });
      assert.equal(connections, 3, 'control + stdout + stderr');

      const cat = await garden.exec(handle, { path: '/bin/cat' }, { stdin: 'hello\nworld\n' });
      assert.deepEqual(cat, { exitStatus: 0, stdout: 'hello\nworld\n', stderr: '' });

      const quiet = await connectionsDuring(async () => {
        assert.equal((await garden.exec(handle, { path: '/bin/false' }, { stdout: false, stderr: false })).exitStatus, 1);
      });
      assert.equal(quiet, 1, 'no output streams: control connection only');
      await garden.destroy(handle);
    });

    it('types ExecutableNotFoundError', async () => {
      const handle = await createContainer('errors');
      const missing = await garden.run(handle, { path: '/no/such/binary' }).catch((error: unknown) => error);
      assert.ok(missing instanceof GardenExecutableNotFound, String(missing));
      assert.match(missing.message, /POST \/containers\/.*\/processes/);
      await garden.destroy(handle);
    });

    it('types ContainerNotFoundError (404) on info and destroy, and a generic error for a duplicate handle', async () => {
      for (const call of [() => garden.info('no-such-vm'), () => garden.destroy('no-such-vm')]) {
        const error = await call().catch((caught: unknown) => caught);
        assert.ok(error instanceof GardenContainerNotFound, String(error));
        assert.equal(error.handle, 'no-such-vm');
        assert.equal(error.status, 404);
        assert.match(error.message, /no-such-vm/);
      }
      const handle = await createContainer('dup');
      const duplicate = await garden.create({ handle, image: { uri: rootfs } }).catch((error: unknown) => error);
      assert.ok(duplicate instanceof GardenError && !(duplicate instanceof GardenContainerNotFound));
      assert.equal(duplicate.status, 500);
      assert.match(duplicate.message, /already in use/);
      const badMount = await garden
        .create({
          handle: handleFor('bad-mount'),
          image: { uri: rootfs },
          bind_mounts: [{ src_path: path.join(dir, 'no-such-dir'), dst_path: '/x', mode: 1 }],
        })
        .catch((error: unknown) => error);
      assert.ok(badMount instanceof GardenError);
      assert.match(badMount.message, /no such file or directory/);
      await garden.destroy(handle);
    });

    it("reports gdn's 500s for file streaming of an unknown handle with route and handle", async () => {
      const streamIn = await garden
        .streamIn('nope', { destination: '/x' }, tarFromEntries([{ name: 'a', content: 'a' }]))
        .catch((error: unknown) => error);
      assert.ok(streamIn instanceof GardenError && !(streamIn instanceof GardenContainerNotFound), String(streamIn));
      assert.equal(
        streamIn.message,
        "Garden PUT /containers/nope/files?user=root&destination=/x (handle 'nope'): stream-in: pid not found for container",
      );
      const streamOut = await garden.streamOut('nope', { source: '/x' }).catch((error: unknown) => error);
      assert.ok(streamOut instanceof GardenError, String(streamOut));
      assert.match(streamOut.message, /stream-out: pid not found for container/);
    });

    it('types injected ServiceUnavailableError and UnrecoverableError', async () => {
      emulator.injectFault({ method: 'GET', path: '/containers', errorType: 'ServiceUnavailableError', message: 'backend down', times: 1 });
      await assert.rejects(garden.list(), (error: unknown) => error instanceof GardenServiceUnavailable && /backend down/.test(error.message));
      emulator.injectFault({ method: 'GET', path: '/containers', errorType: 'UnrecoverableError', message: 'broken', times: 1 });
      await assert.rejects(garden.list(), GardenUnrecoverable);
      emulator.clearFaults();
    });

    it('retries a GET after dropped connections, never a mutating call', async () => {
      const handle = await createContainer('retry');
      emulator.injectFault({ method: 'GET', path: '/containers/:handle/info', drop: true, times: 2 });
      assert.equal(await connectionsDuring(async () => assert.equal((await garden.info(handle)).State, 'active')), 3);

      emulator.injectFault({ method: 'PUT', path: '/containers/:handle/properties/:key', drop: true, times: 1 });
      let error: unknown;
      assert.equal(
        await connectionsDuring(async () => {
          error = await garden.setProperty(handle, 'k', 'v').catch((caught: unknown) => caught);
        }),
        1,
      );
      assert.ok(error instanceof GardenUnreachable, String(error));
      assert.match(error.message, /PUT \/containers\/.*\/properties\/k/);

      emulator.injectFault({ method: 'POST', path: '/containers/:handle/processes', drop: true, times: 1 });
      await assert.rejects(garden.runDetached(handle, { path: '/bin/true' }), GardenUnreachable);
      emulator.clearFaults();
      await garden.destroy(handle);
    });

    it('starts a detached process that keeps running after its connection closed', async () => {
      const handle = await createContainer('detached');
      let started: Awaited<ReturnType<GardenClient['runDetached']>> | undefined;
      const connections = await connectionsDuring(async () => {
        started = await garden.runDetached(handle, { path: '/bin/sh', args: ['-c', 'sleep 0.3; echo alive > /tmp/alive; exec sleep 600'] });
      });
      assert.equal(connections, 1);
      assert.ok(started?.processId);
      // The marker is written after the connection closed: poll (bounded) until it shows up.
      let marker: Awaited<ReturnType<typeof readFirstTarFile>>;
      for (let attempt = 0; attempt < 200 && marker === undefined; attempt += 1) {
        marker = await readFirstTarFile(await garden.streamOut(handle, { source: '/tmp/alive' }));
        if (marker === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      assert.equal(marker?.content.toString(), 'alive\n');
      await garden.destroy(handle);
    });

    it('gives GardenUnreachable after the server is gone', async () => {
      const gone = await startGardenEmulator({
        listen: network === 'tcp' ? { port: 0 } : { socketPath: path.join(dir, 'gone.sock') },
        stateDir: path.join(dir, 'gone-state'),
      });
      const client = createGardenClient({ ...gone.address, logger: silentLogger, retry: { attempts: 2, initialDelayMs: 1 } });
      await client.list();
      await gone.close();
      const error = await client.list().catch((caught: unknown) => caught);
      assert.ok(error instanceof GardenUnreachable, String(error));
      assert.equal(error.code, network === 'tcp' ? 'ECONNREFUSED' : 'ENOENT');
    });

    it('streams 100 MiB in and out with flat client memory (child process)', async () => {
      const handle = await createContainer('big');
      const file = path.join(dir, 'blob.bin');
      await writeFile(file, '');
      await truncate(file, 100 * 1024 * 1024); // sparse, zero-filled: cheap to make, full size on the wire
      const child = path.join(__dirname, 'stream-memory-child.ts');
      const measure = async (mode: string) => {
        const { stdout } = await run(
          process.execPath,
          ['--import', 'tsx', child, emulator.address.network, emulator.address.address, handle, file, mode],
          {
            maxBuffer: 1024 * 1024,
          },
        );
        return JSON.parse(stdout) as { baselineRss: number; streamingPeakRss: number; maxRss: number; bytesOut: number };
      };
      const streaming = await measure('streaming');
      const buffered = await measure('buffered');
      const mib = (bytes: number) => Math.round(bytes / 1024 / 102.4) / 10;
      console.log(
        `[${network}] 100 MiB stream_in + stream_out: client RSS baseline ${mib(streaming.baselineRss)} MiB, streaming peak ${mib(streaming.streamingPeakRss)} MiB (+${mib(streaming.streamingPeakRss - streaming.baselineRss)}), process max ${mib(streaming.maxRss)} MiB; control that buffers the file: +${mib(buffered.streamingPeakRss - buffered.baselineRss)} MiB`,
      );
      assert.ok(streaming.bytesOut > 100 * 1024 * 1024, `tar out holds the file: ${streaming.bytesOut}`);
      // Measured: +30..50 MiB whatever the size (10 MiB and 400 MiB alike): GC slack, not buffering.
      assert.ok(streaming.streamingPeakRss - streaming.baselineRss < 64 * 1024 * 1024, 'streaming keeps the client under +64 MiB');
      assert.ok(buffered.streamingPeakRss - buffered.baselineRss > 90 * 1024 * 1024, 'the control (whole file in memory) is visible');
      await garden.destroy(handle);
    });
  });
}
