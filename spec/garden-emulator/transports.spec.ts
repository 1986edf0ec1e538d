// TCP and unix socket listeners, and the CLI as a separate process (how `npm run demo` and benchmarks use it).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startGardenEmulator, type GardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { readStream, request, startProcess } from './raw-client';

async function exercise(emulator: GardenEmulator): Promise<void> {
  assert.equal((await request(emulator, 'GET', '/ping')).body.toString(), '{}\n');
  assert.equal((await request(emulator, 'POST', '/containers', { handle: 'vm' })).status, 200);
  emulator.scriptProcess(() => true, { stdout: 'over the wire\n', exitStatus: 0 });
  const run = await startProcess(emulator, 'vm', { path: 'echo' });
  assert.equal((await readStream(emulator, 'vm', run.processId, run.streamId, 'stdout')).data, 'over the wire\n');
  assert.deepEqual(await run.connection.nextFrame(), { process_id: run.processId, exit_status: 0 });
}

describe('garden emulator: transports', () => {
  it('listens on TCP 127.0.0.1 with an ephemeral port', async () => {
    const root = await mkdtemp(join(tmpdir(), 'garden-emulator-tcp-'));
    const emulator = await startGardenEmulator({ listen: { host: '127.0.0.1', port: 0 }, stateDir: join(root, 'state') });
    try {
      assert.equal(emulator.address.network, 'tcp');
      assert.match(emulator.address.address, /^127\.0\.0\.1:\d+$/);
      await exercise(emulator);
    } finally {
      await emulator.close();
      await rm(root, { recursive: true, force: true });
    }
  });

  it('listens on a unix socket: replaces a stale socket file, chmod 0777, removes it on close', async () => {
    const root = await mkdtemp(join(tmpdir(), 'garden-emulator-unix-'));
    const socketPath = join(root, 'garden.sock');
    await writeFile(socketPath, 'stale');
    const emulator = await startGardenEmulator({ listen: { socketPath }, stateDir: join(root, 'state') });
    try {
      assert.deepEqual(emulator.address, { network: 'unix', address: socketPath });
      assert.equal((await stat(socketPath)).mode & 0o777, 0o777);
      assert.ok((await stat(socketPath)).isSocket());
      await exercise(emulator);
    } finally {
      await emulator.close();
    }
    assert.equal(existsSync(socketPath), false);
    assert.equal(existsSync(join(root, 'state', 'containers')), false);
    await rm(root, { recursive: true, force: true });
  });

  for (const mode of ['tcp', 'unix'] as const) {
    it(`the CLI (${mode}) prints one "listening" line, serves, and stops cleanly on SIGTERM`, async () => {
      const root = await mkdtemp(join(tmpdir(), `garden-emulator-cli-${mode}-`));
      const listen = mode === 'tcp' ? ['--listen', '127.0.0.1:0'] : ['--socket', join(root, 'g.sock')];
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/garden-emulator/cli.ts', ...listen, '--state-dir', join(root, 'state')], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      try {
        const lines = createInterface({ input: child.stdout });
        const first = await new Promise<string>((resolve, reject) => {
          lines.once('line', resolve);
          child.once('exit', (code) => reject(new Error(`cli exited ${String(code)}`)));
        });
        const match = /^listening (.+)$/.exec(first);
        assert.ok(match, first);
        const address = match[1] ?? '';
        const stub = { address: mode === 'tcp' ? { network: 'tcp', address } : { network: 'unix', address } } as GardenEmulator;
        assert.equal((await request(stub, 'POST', '/containers', { handle: 'from-cli' })).status, 200);
        assert.deepEqual((await request(stub, 'GET', '/containers')).json(), { Handles: ['from-cli'] });
        const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
        child.kill('SIGTERM');
        assert.equal(await exited, 0);
        assert.equal(existsSync(join(root, 'state', 'containers')), false);
        if (mode === 'unix') assert.equal(existsSync(address), false);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
        await rm(root, { recursive: true, force: true });
      }
    });
  }
});
