import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createGardenClient } from '../../src/garden/garden-client';
import { pathSegment } from '../../src/garden/url-path';
import { silentLogger } from '../../src/log/logger';
import { ATTACH_HEAD, RUN_HEAD, type RawServer, jsonResponse, startRawServer } from './raw-garden-server';

// Every value the client places in a Garden URL path is one encoded segment.

const servers: RawServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

/** A server answering every JSON request `{}` (run: a start frame and exit 0) and recording targets. */
async function recordingServer(): Promise<{ targets: string[]; client: ReturnType<typeof createGardenClient> }> {
  const targets: string[] = [];
  const server = await startRawServer('tcp', async (connection) => {
    const request = await connection.readRequest();
    if (!request) return;
    targets.push(request.target);
    if (request.target.includes('/processes') && !request.target.includes('/attaches/')) {
      connection.end(`${RUN_HEAD}{"process_id":"p?1#","stream_id":"s/2"}\n{"process_id":"p?1#","exit_status":0}\n`);
    } else if (request.target.includes('/attaches/')) {
      connection.end(ATTACH_HEAD);
    } else {
      connection.end(jsonResponse(200, '{}'));
    }
  });
  servers.push(server);
  return { targets, client: createGardenClient({ network: 'tcp', address: server.address, logger: silentLogger, retry: { attempts: 1 } }) };
}

describe('pathSegment', () => {
  it('encodes everything outside the unreserved set and leaves ids unchanged', () => {
    assert.equal(pathSegment('3f1e0c2a-1b2c.x_y~z'), '3f1e0c2a-1b2c.x_y~z');
    assert.equal(pathSegment('vm?x=1'), 'vm%3Fx%3D1');
    assert.equal(pathSegment('vm#'), 'vm%23');
    assert.equal(pathSegment('a/b%c'), 'a%2Fb%25c');
    assert.equal(pathSegment("a!'()*"), 'a%21%27%28%29%2A');
  });

  it("refuses '', '.' and '..'", () => {
    for (const value of ['', '.', '..']) assert.throws(() => pathSegment(value), /Refusing/);
  });
});

describe('the Garden client escapes every path segment', () => {
  it('handles on JSON routes (destroy, stop, properties)', async () => {
    const { targets, client } = await recordingServer();
    await client.destroy('vm?x=1');
    await client.destroy('vm#');
    await client.stop('a/../b', false);
    await client.properties('vm x');
    assert.deepEqual(targets, ['/containers/vm%3Fx%3D1', '/containers/vm%23', '/containers/a%2F..%2Fb/stop', '/containers/vm%20x/properties']);
  });

  it('property keys', async () => {
    const { targets, client } = await recordingServer();
    await client.setProperty('vm', 'bosh.a/b?c#d', 'v');
    await client.setProperty('vm', 'k%2F', 'v');
    await client.removeProperty('vm', '../x');
    assert.deepEqual(targets, [
      '/containers/vm/properties/bosh.a%2Fb%3Fc%23d',
      '/containers/vm/properties/k%252F',
      '/containers/vm/properties/..%2Fx',
    ]);
  });

  it('stream ids of a process (run)', async () => {
    const { targets, client } = await recordingServer();
    const result = await client.exec('vm?', { path: '/bin/true', user: 'root' });
    assert.equal(result.exitStatus, 0);
    assert.deepEqual(targets.sort(), [
      '/containers/vm%3F/processes',
      '/containers/vm%3F/processes/p%3F1%23/attaches/s%2F2/stderr',
      '/containers/vm%3F/processes/p%3F1%23/attaches/s%2F2/stdout',
    ]);
  });
});
