import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startGardenEmulator, type GardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { forceCleanup } from '../../testkit/cpi-environment';
import { request, runCpi, tempConfig, type CpiRun } from '../../testkit/cpi-process';
import { type RawConnection, type RawServer, startRawServer } from './raw-garden-server';
import { manualNetworks } from '../../testkit/networks';

// Every Garden call ends: a deadline per request and a cap on response bodies, through the built CPI.

const MANUAL_NETWORK = manualNetworks('10.244.0.34');
const VM = '6c1b5f0e-2d4a-4b8e-9f3c-7a1d2e3f4a5b';

/** The five Garden-facing VM methods, each against a VM (or stemcell) that needs nothing else on the host. */
const CALLS: [string, unknown[]][] = [
  ['has_vm', [VM]],
  ['delete_vm', [VM]],
  ['set_vm_metadata', [VM, { name: 'zookeeper/0', index: 0 }]],
  ['reboot_vm', [VM]],
  ['create_vm', ['agent-1', 'sc-runit', {}, MANUAL_NETWORK, [], {}]],
];

/** How a hostile Garden answers every request. */
const BEHAVIOURS: Record<string, (connection: RawConnection) => Promise<void>> = {
  'accepts and never answers': async (connection) => {
    await connection.readRequest();
    await connection.closed();
  },
  'dribbles a byte every 300 ms': async (connection) => {
    await connection.readRequest();
    const head = 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n';
    for (let i = 0; !connection.socket.destroyed; i += 1) {
      connection.write(i < head.length ? (head[i] ?? ' ') : ' ');
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  },
  'sends the head and half a body': async (connection) => {
    await connection.readRequest();
    connection.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"State":"active","Ev');
    await connection.closed();
  },
};

/** Answers with a 3 GiB body, written as fast as the client reads it, until the client hangs up. */
async function hugeBody(connection: RawConnection): Promise<void> {
  await connection.readRequest();
  const socket = connection.socket;
  const total = 3 * 1024 * 1024 * 1024;
  const chunk = Buffer.alloc(1024 * 1024, 0x20);
  socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`);
  for (let sent = 0; sent < total && !socket.destroyed; sent += chunk.length) {
    if (!socket.write(chunk)) {
      await new Promise<void>((resolve) => {
        socket.once('drain', resolve);
        socket.once('close', resolve);
      });
    }
  }
}

async function installation(server: { network: string; address: string }, warden: Record<string, unknown> = {}) {
  const { dir, configPath, config } = await tempConfig();
  const actions = config.actions as Record<string, string>;
  const stemcell = join(actions.stemcells_dir ?? '', 'sc-runit');
  await mkdir(join(stemcell, 'usr/sbin'), { recursive: true });
  await writeFile(join(stemcell, 'usr/sbin/runsvdir-start'), '#!/bin/sh\n', { mode: 0o755 });
  await writeFile(
    configPath,
    JSON.stringify({
      ...config,
      warden: { connect_network: server.network, connect_address: server.address, garden_init_path: null, ...warden },
    }),
  );
  return { dir, configPath };
}

async function timed(configPath: string, method: string, args: unknown[]): Promise<{ run: CpiRun; ms: number }> {
  const started = Date.now();
  const run = await runCpi(configPath, request(method, args, { api_version: 2 }));
  return { run, ms: Date.now() - started };
}

describe('a Garden that never finishes an answer', () => {
  for (const [behaviour, script] of Object.entries(BEHAVIOURS)) {
    describe(behaviour, () => {
      let server: RawServer;
      let dir: string;
      let configPath: string;
      before(async () => {
        server = await startRawServer('tcp', script);
        ({ dir, configPath } = await installation(server, { request_timeout_seconds: 1, long_request_timeout_seconds: 1.5 }));
      });
      after(async () => {
        await server.close();
        await forceCleanup(dir);
      });

      for (const [method, args] of CALLS) {
        it(`${method} answers a retryable error once the deadline passed`, async () => {
          const { run, ms } = await timed(configPath, method, args);
          const error = run.response.error;
          assert.equal(run.status, 0);
          assert.equal(
            error?.type,
            method === 'create_vm' ? 'Bosh::Clouds::VMCreationFailed' : 'Bosh::Clouds::CloudError',
            JSON.stringify(run.response),
          );
          assert.equal(error?.ok_to_retry, true, JSON.stringify(run.response));
          assert.match(error?.message ?? '', /no complete answer within 1(\.5)? s/);
          // create_vm's rollback destroys with its own deadline: create's 1.5 s + destroy's 1 s + start-up on a busy machine.
          assert.ok(ms < 15_000, `answered after ${ms} ms: ${JSON.stringify(run.response)}`);
        });
      }
    });
  }
});

describe('a Garden answering with a 3 GiB body', () => {
  let server: RawServer;
  let dir: string;
  let configPath: string;
  before(async () => {
    server = await startRawServer('tcp', hugeBody);
    ({ dir, configPath } = await installation(server));
  });
  after(async () => {
    await server.close();
    await forceCleanup(dir);
  });

  for (const [method, args] of CALLS) {
    it(`${method} stops reading at 16 MiB and answers with JSON`, async () => {
      const { run, ms } = await timed(configPath, method, args);
      assert.equal(run.status, 0);
      assert.equal(run.response.error?.type, 'Bosh::Clouds::CloudError', JSON.stringify(run.response));
      assert.match(run.response.error?.message ?? '', /response body larger than 16777216 bytes/);
      assert.ok(ms < 15000, `answered after ${ms} ms`);
    });
  }
});

describe('a Garden that is slow but answers within the deadline (emulator)', () => {
  let emulator: GardenEmulator;
  let gardenDir: string;
  let dir: string;
  let configPath: string;
  before(async () => {
    gardenDir = await mkdtemp(join(tmpdir(), 'garden-slow-'));
    emulator = await startGardenEmulator({ listen: { host: '127.0.0.1', port: 0 }, stateDir: gardenDir, processMode: 'scripted' });
    ({ dir, configPath } = await installation(emulator.address, { request_timeout_seconds: 2 }));
  });
  after(async () => {
    await emulator.close();
    await forceCleanup(dir);
    await rm(gardenDir, { recursive: true, force: true });
  });

  it('has_vm waits for a 500 ms answer, and gives up on a 20 s one at 2 s', async () => {
    emulator.injectFault({ method: 'GET', path: '/containers', delayMs: 500, times: 1 });
    const slow = await timed(configPath, 'has_vm', [VM]);
    assert.equal(slow.run.response.result, false, JSON.stringify(slow.run.response));
    emulator.injectFault({ method: 'GET', path: '/containers', delayMs: 20_000, times: 1 });
    const hung = await timed(configPath, 'has_vm', [VM]);
    assert.equal(hung.run.response.error?.ok_to_retry, true, JSON.stringify(hung.run.response));
    assert.match(hung.run.response.error?.message ?? '', /no complete answer within 2 s/);
    assert.ok(hung.ms < 10_000, `answered after ${hung.ms} ms`);
  });
});
