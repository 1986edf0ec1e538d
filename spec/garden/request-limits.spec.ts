import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { GardenBadResponse, GardenUnreachable, createGardenClient } from '../../src/garden/garden-client';
import { silentLogger } from '../../src/log/logger';
import { RUN_HEAD, type RawServer, jsonResponse, startRawServer } from './raw-garden-server';

// The client's deadlines and size caps on the routes the CPI uses, one hostile server each.

const servers: RawServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function clientFor(script: Parameters<typeof startRawServer>[1], timeouts = { requestMs: 400, longRequestMs: 600 }) {
  const server = await startRawServer('tcp', script);
  servers.push(server);
  return createGardenClient({ network: 'tcp', address: server.address, logger: silentLogger, retry: { attempts: 1 }, timeouts });
}

function isTimeout(error: unknown): boolean {
  assert.ok(error instanceof GardenUnreachable, String(error));
  assert.equal(error.code, 'ETIMEDOUT');
  assert.match(error.message, /no complete answer within/);
  return true;
}

describe('Garden client deadlines', () => {
  it('a JSON route that never answers rejects with ETIMEDOUT at the deadline', async () => {
    const client = await clientFor(async (connection) => {
      await connection.readRequest();
      await connection.closed();
    });
    const started = Date.now();
    await assert.rejects(client.info('vm'), isTimeout);
    assert.ok(Date.now() - started < 2000);
  });

  it('create gets the long deadline', async () => {
    const client = await clientFor(async (connection) => {
      await connection.readRequest();
      await new Promise((resolve) => setTimeout(resolve, 500)); // past requestMs, within longRequestMs
      connection.end(jsonResponse(200, '{"Handle":"vm"}'));
    });
    assert.equal(await client.create({ handle: 'vm' }), 'vm');
  });

  it('a process start whose first frame never comes rejects with ETIMEDOUT (run and runDetached)', async () => {
    const client = await clientFor(async (connection) => {
      await connection.readRequest();
      connection.write(RUN_HEAD);
      await connection.closed();
    });
    await assert.rejects(client.runDetached('vm', { path: '/bin/true', user: 'root' }), (error) => {
      assert.match(String(error), /no complete answer within 0.4 s/);
      return true;
    });
    await assert.rejects(client.exec('vm', { path: '/bin/true', user: 'root' }), /no complete answer within 0.4 s/);
  });

  it('a process head that never comes rejects with ETIMEDOUT', async () => {
    const client = await clientFor(async (connection) => {
      await connection.readRequest();
      await connection.closed();
    });
    await assert.rejects(client.runDetached('vm', { path: '/bin/true', user: 'root' }), isTimeout);
  });

  it('a stream_out body that stalls is cut at the long deadline', async () => {
    const client = await clientFor(async (connection) => {
      await connection.readRequest();
      connection.write('HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\nContent-Length: 10240\r\n\r\nabc');
      await connection.closed();
    });
    const body = await client.streamOut('vm', { source: '/x' });
    await assert.rejects(
      (async () => {
        for await (const chunk of body) void chunk;
      })(),
      /no complete answer within 0.6 s/,
    );
  });
});

describe('Garden client size caps', () => {
  it('a process frame without a newline is refused past 1 MiB (the socket is not read further)', async () => {
    let sent = 0;
    const client = await clientFor(
      async (connection) => {
        await connection.readRequest();
        connection.write(RUN_HEAD);
        const chunk = Buffer.alloc(256 * 1024, 0x61);
        while (!connection.socket.destroyed && sent < 64 * 1024 * 1024) {
          sent += chunk.length;
          if (!connection.socket.write(chunk)) await new Promise((resolve) => connection.socket.once('drain', resolve).once('close', resolve));
        }
        await connection.closed();
      },
      { requestMs: 60_000, longRequestMs: 60_000 },
    );
    await assert.rejects(client.runDetached('vm', { path: '/bin/true', user: 'root' }), (error) => {
      assert.ok(error instanceof GardenBadResponse, String(error));
      assert.match(error.message, /process frame longer than 1048576 bytes/);
      return true;
    });
    assert.ok(sent < 16 * 1024 * 1024, `the server got to send ${sent} bytes`);
  });

  it('a JSON body over 16 MiB is refused without reading the rest', async () => {
    let sent = 0;
    const client = await clientFor(
      async (connection) => {
        await connection.readRequest();
        connection.write(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${1024 * 1024 * 1024}\r\n\r\n`);
        const chunk = Buffer.alloc(1024 * 1024, 0x20);
        while (!connection.socket.destroyed && sent < 1024 * 1024 * 1024) {
          sent += chunk.length;
          if (!connection.socket.write(chunk)) await new Promise((resolve) => connection.socket.once('drain', resolve).once('close', resolve));
        }
      },
      { requestMs: 60_000, longRequestMs: 60_000 },
    );
    await assert.rejects(client.properties('vm'), /response body larger than 16777216 bytes/);
    assert.ok(sent < 64 * 1024 * 1024, `the server got to send ${sent} bytes`);
  });
});
