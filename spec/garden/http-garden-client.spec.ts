import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import {
  GardenBadResponse,
  GardenContainerNotFound,
  GardenError,
  GardenExecutableNotFound,
  GardenUnreachable,
  createGardenClient,
} from '../../src/garden/garden-client';
import { readFirstTarFile, tarFromEntries } from '../../src/garden/garden-tar';
import { silentLogger } from '../../src/log/logger';
import { ATTACH_HEAD, RUN_HEAD, type RawRequest, type RawServer, answerEach, jsonResponse, startRawServer } from './raw-garden-server';

// Wire-level tests against gdn's captured bytes (recorded from a live gdn; docs/garden-wire.md).

const HANDLE = '4f5d2c1a-8e3b-4a6f-9d2e-1c7b5a3e9f20';
const INFO_BODY =
  '{"State":"active","Events":null,"HostIP":"10.244.0.1","ContainerIP":"10.244.0.34","ContainerIPv6":"","ExternalIP":"192.0.2.2","ContainerPath":"/var/vcap/data/garden/depot/4f5d2c1a-8e3b-4a6f-9d2e-1c7b5a3e9f20","ProcessIDs":null,"Properties":{"bosh.agent_id":"agent-1","garden.state":"created"},"MappedPorts":[]}\n';
const NOT_FOUND_BODY = '{"Type":"ContainerNotFoundError","Message":"unknown handle: no-such-vm","Handle":"no-such-vm","ProcessID":"","Binary":""}\n';

const servers: RawServer[] = [];
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
});

async function serve(network: 'tcp' | 'unix', script: Parameters<typeof startRawServer>[1]) {
  const server = await startRawServer(network, script);
  servers.push(server);
  const client = createGardenClient({
    network: server.network,
    address: server.address,
    logger: silentLogger,
    retry: { attempts: 3, initialDelayMs: 1 },
  });
  return { server, client };
}

function recorder(respond: (request: RawRequest) => string | Buffer) {
  const requests: RawRequest[] = [];
  return {
    requests,
    script: answerEach((request) => {
      requests.push(request);
      return respond(request);
    }),
  };
}

for (const network of ['tcp', 'unix'] as const) {
  describe(`Garden client wire format over ${network}`, () => {
    it('lists with one connection and no keep-alive', async () => {
      const { requests, script } = recorder(() => jsonResponse(200, '{"Handles":[]}\n'));
      const { server, client } = await serve(network, script);
      await client.list();
      assert.equal(server.connections, 1);
      assert.equal(requests[0]?.method, 'GET');
      assert.equal(requests[0]?.target, '/containers');
      assert.equal(requests[0]?.headers.get('connection'), 'close');
    });

    it('creates with a JSON body and Content-Type application/json, reading {"Handle"}', async () => {
      const { requests, script } = recorder(() => jsonResponse(200, `{"Handle":"${HANDLE}"}\n`));
      const { client } = await serve(network, script);
      const handle = await client.create({
        handle: HANDLE,
        image: { uri: '/var/vcap/store/warden_cpi/stemcells/s' },
        privileged: true,
        network: '10.244.0.34/24',
        bind_mounts: [{ src_path: '/a', dst_path: '/var/vcap/data', mode: 1 }],
        properties: { 'bosh.agent_id': 'agent-1' },
      });
      assert.equal(handle, HANDLE);
      const request = requests[0];
      assert.equal(request?.method, 'POST');
      assert.equal(request?.target, '/containers');
      assert.equal(request?.headers.get('content-type'), 'application/json');
      assert.deepEqual(JSON.parse(request?.body.toString() ?? ''), {
        handle: HANDLE,
        image: { uri: '/var/vcap/store/warden_cpi/stemcells/s' },
        privileged: true,
        network: '10.244.0.34/24',
        bind_mounts: [{ src_path: '/a', dst_path: '/var/vcap/data', mode: 1 }],
        properties: { 'bosh.agent_id': 'agent-1' },
      });
    });

    it('parses ContainerInfo as gdn sends it (nulls become empty lists)', async () => {
      const { script } = recorder(() => jsonResponse(200, INFO_BODY));
      const { client } = await serve(network, script);
      const info = await client.info(HANDLE);
      assert.equal(info.State, 'active');
      assert.equal(info.ContainerIP, '10.244.0.34');
      assert.deepEqual(info.Events, []);
      assert.deepEqual(info.ProcessIDs, []);
      assert.equal(info.Properties['bosh.agent_id'], 'agent-1');
    });

    it('lists with property filters as query parameters', async () => {
      const { requests, script } = recorder(() => jsonResponse(200, `{"Handles":["${HANDLE}"]}\n`));
      const { client } = await serve(network, script);
      assert.deepEqual(await client.list({ 'bosh.agent_id': 'agent-1' }), [HANDLE]);
      assert.equal(requests[0]?.target, '/containers?bosh.agent_id=agent-1');
    });

    it('types ContainerNotFoundError (404) with route and handle in the message', async () => {
      const { script } = recorder(() => jsonResponse(404, NOT_FOUND_BODY));
      const { client } = await serve(network, script);
      const error = await client.info('no-such-vm').catch((caught: unknown) => caught);
      assert.ok(error instanceof GardenContainerNotFound);
      assert.equal(error.handle, 'no-such-vm');
      assert.equal(error.status, 404);
      assert.match(error.message, /GET \/containers\/no-such-vm\/info/);
      assert.match(error.message, /handle 'no-such-vm'/);
      assert.match(error.message, /unknown handle: no-such-vm/);
    });

    it('gives a generic GardenError with Type "" for any other error (500)', async () => {
      const { script } = recorder(() =>
        jsonResponse(500, '{"Type":"","Message":"property does not exist: missing","Handle":"","ProcessID":"","Binary":""}\n'),
      );
      const { client } = await serve(network, script);
      const error = await client.removeProperty(HANDLE, 'missing').catch((caught: unknown) => caught);
      assert.ok(error instanceof GardenError);
      assert.ok(!(error instanceof GardenContainerNotFound));
      assert.equal(error.gardenType, '');
      assert.equal(error.status, 500);
      assert.match(error.message, /property does not exist: missing/);
      assert.match(error.message, new RegExp(`handle '${HANDLE}'`));
    });

    it('reports a non-JSON error body (router 404) as GardenBadResponse', async () => {
      const { script } = recorder(
        () => 'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 19\r\n\r\n404 page not found\n',
      );
      const { client } = await serve(network, script);
      const error = await client.info(HANDLE).catch((caught: unknown) => caught);
      assert.ok(error instanceof GardenBadResponse);
      assert.match(error.message, /HTTP 404 .*404 page not found/);
    });

    it('rejects a 2xx body that fails its schema', async () => {
      const { script } = recorder(() => jsonResponse(200, '{"handles":["x"]}\n'));
      const { client } = await serve(network, script);
      await assert.rejects(client.list(), GardenBadResponse);
    });

    it('retries an idempotent GET after a dropped connection, but never a mutating call', async () => {
      const drop = async (connection: import('./raw-garden-server').RawConnection, index: number) => {
        const request = await connection.readRequest();
        if (index < 2) connection.socket.destroy();
        else connection.end(request?.method === 'GET' ? jsonResponse(200, '{"Handles":[]}\n') : jsonResponse(200, '{}\n'));
      };
      const get = await serve(network, drop);
      assert.deepEqual(await get.client.list(), []);
      assert.equal(get.server.connections, 3);

      const put = await serve(network, drop);
      const error = await put.client.setProperty(HANDLE, 'k', 'v').catch((caught: unknown) => caught);
      assert.ok(error instanceof GardenUnreachable, String(error));
      assert.equal(put.server.connections, 1);
    });

    it('streams a tar in (application/x-tar, user/destination query) and reads one out', async () => {
      let uploaded: Buffer = Buffer.alloc(0);
      const { requests, script } = recorder((request) => {
        if (request.method === 'PUT') {
          uploaded = request.body;
          return jsonResponse(200, '{}\n');
        }
        const chunks = [uploaded.subarray(0, 512), uploaded.subarray(512)];
        const framed = chunks.map((chunk) => Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]));
        return Buffer.concat([
          Buffer.from('HTTP/1.1 200 OK\r\nDate: x\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n'),
          ...framed,
          Buffer.from('0\r\n\r\n'),
        ]);
      });
      const { client } = await serve(network, script);
      await client.streamIn(
        HANDLE,
        { destination: '/var/vcap/bosh/' },
        tarFromEntries([{ name: 'warden-cpi-agent-env.json', content: '{"agent_id":"agent-1"}\n', mode: 0o640 }]),
      );
      assert.equal(requests[0]?.target, `/containers/${HANDLE}/files?user=root&destination=%2Fvar%2Fvcap%2Fbosh%2F`);
      assert.equal(requests[0]?.headers.get('content-type'), 'application/x-tar');
      const file = await readFirstTarFile(await client.streamOut(HANDLE, { source: '/var/vcap/bosh/warden-cpi-agent-env.json' }));
      assert.equal(file?.name, 'warden-cpi-agent-env.json');
      assert.equal(file?.mode, 0o640);
      assert.equal(file?.content.toString(), '{"agent_id":"agent-1"}\n');
      assert.equal(requests[1]?.target, `/containers/${HANDLE}/files?user=root&source=%2Fvar%2Fvcap%2Fbosh%2Fwarden-cpi-agent-env.json`);
    });

    it('runs a process: 201 chunked head then raw frames, attaches stdout/stderr, sends stdin, exit 3', async () => {
      const frames: string[] = [];
      const attaches: string[] = [];
      const { client, server } = await serve(network, async (connection) => {
        const request = await connection.readRequest();
        if (!request) return;
        if (request.method === 'POST') {
          assert.equal(request.headers.get('content-type'), 'application/json');
          assert.deepEqual(JSON.parse(request.body.toString()), { rlimits: {}, path: '/bin/sh', args: ['-c', 'cat'], user: 'root' });
          connection.write(`${RUN_HEAD}{"process_id":"p-1","stream_id":"61"}\n`);
          for (let line = await connection.readLine(); line !== undefined; line = await connection.readLine()) {
            frames.push(line);
            if (!line.includes('"data"')) break;
          }
          connection.end('{"process_id":"p-1","exit_status":3}\n');
          return;
        }
        attaches.push(request.target);
        if (request.target.endsWith('/stdout')) connection.end(`${ATTACH_HEAD}out-line\nhello\n`);
        else connection.end(`${ATTACH_HEAD}err-line\n`);
      });
      const result = await client.exec(HANDLE, { path: '/bin/sh', args: ['-c', 'cat'], user: 'root' }, { stdin: 'hello\n' });
      assert.deepEqual(result, { exitStatus: 3, stdout: 'out-line\nhello\n', stderr: 'err-line\n' });
      assert.deepEqual(
        frames.map((frame) => JSON.parse(frame)),
        [
          { process_id: 'p-1', source: 0, data: 'hello\n' },
          { process_id: 'p-1', source: 0 },
        ],
      );
      assert.deepEqual(attaches.sort(), [
        `/containers/${HANDLE}/processes/p-1/attaches/61/stderr`,
        `/containers/${HANDLE}/processes/p-1/attaches/61/stdout`,
      ]);
      assert.equal(server.connections, 3);
    });

    it('runs detached on one connection and returns the process id', async () => {
      let clientClosed = false;
      const { client, server } = await serve(network, async (connection) => {
        await connection.readRequest();
        connection.write(`${RUN_HEAD}{"process_id":"agent","stream_id":"62"}\n`);
        await connection.closed();
        clientClosed = true;
      });
      assert.deepEqual(await client.runDetached(HANDLE, { path: '/bin/sleep', args: ['30'] }), { processId: 'agent', streamId: '62' });
      for (let i = 0; i < 100 && !clientClosed; i += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      assert.equal(clientClosed, true);
      assert.equal(server.connections, 1);
    });

    it('types ExecutableNotFoundError from a run (no hijack)', async () => {
      const { script } = recorder(() =>
        jsonResponse(500, '{"Type":"ExecutableNotFoundError","Message":"exec failed: no such file","Handle":"","ProcessID":"","Binary":""}\n'),
      );
      const { client } = await serve(network, script);
      await assert.rejects(client.run(HANDLE, { path: '/no/such/binary' }), GardenExecutableNotFound);
    });

    it('fails wait() with GardenUnreachable when the control connection ends without a status', async () => {
      const { client } = await serve(network, async (connection) => {
        await connection.readRequest();
        connection.end(`${RUN_HEAD}{"process_id":"p-2","stream_id":"1"}\n`);
      });
      const process = await client.run(HANDLE, { path: '/bin/true' });
      await assert.rejects(process.wait(), GardenUnreachable);
    });

    it('sends signal and tty frames on the control connection', async () => {
      const frames: unknown[] = [];
      const { client } = await serve(network, async (connection) => {
        await connection.readRequest();
        connection.write(`${RUN_HEAD}{"process_id":"p-3","stream_id":"2"}\n`);
        for (let i = 0; i < 2; i += 1) frames.push(JSON.parse((await connection.readLine()) ?? 'null'));
        connection.end('{"process_id":"p-3","exit_status":143}\n');
      });
      const process = await client.run(HANDLE, { path: '/bin/sleep', args: ['9'], tty: { window_size: { columns: 80, rows: 24 } } });
      await process.setTty({ columns: 100, rows: 30 });
      await process.signal('terminate');
      assert.equal(await process.wait(), 143);
      assert.deepEqual(frames, [
        { process_id: 'p-3', tty: { window_size: { columns: 100, rows: 30 } } },
        { process_id: 'p-3', signal: 0 },
      ]);
    });

    it('rejects with a GardenProcessError-typed failure on an error frame', async () => {
      const { client } = await serve(network, async (connection) => {
        await connection.readRequest();
        connection.end(`${RUN_HEAD}{"process_id":"p-4","stream_id":"3"}\n{"process_id":"p-4","error":"boom"}\n`);
      });
      const process = await client.run(HANDLE, { path: '/bin/x' });
      await assert.rejects(process.wait(), /boom/);
    });

    it('copies binary stdout untouched and respects a slow consumer', async () => {
      const payload = Buffer.alloc(4 * 1024 * 1024, 0xff);
      const { client } = await serve(network, async (connection) => {
        const request = await connection.readRequest();
        if (request?.method === 'POST') {
          connection.write(`${RUN_HEAD}{"process_id":"p-5","stream_id":"4"}\n`);
          connection.end('{"process_id":"p-5","exit_status":0}\n');
        } else {
          connection.write(ATTACH_HEAD);
          connection.end(payload);
        }
      });
      let received = 0;
      let allFF = true;
      const slow = new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _encoding, callback) {
          received += chunk.length;
          if (chunk.some((byte) => byte !== 0xff)) allFF = false;
          setImmediate(callback);
        },
      });
      const process = await client.run(HANDLE, { path: '/bin/cat' }, { stdout: slow });
      assert.equal(await process.wait(), 0);
      assert.equal(received, payload.length);
      assert.equal(allFF, true);
    });
  });
}

describe('Garden client when Garden is not there', () => {
  it('gives GardenUnreachable ECONNREFUSED on a closed TCP port, after bounded retries', async () => {
    const server = await startRawServer('tcp', () => undefined);
    const address = server.address;
    await server.close();
    const warnings: unknown[] = [];
    const client = createGardenClient({
      network: 'tcp',
      address,
      retry: { attempts: 3, initialDelayMs: 1 },
      logger: { ...silentLogger, warn: (message, meta) => warnings.push({ message, meta }) },
    });
    const error = await client.list().catch((caught: unknown) => caught);
    assert.ok(error instanceof GardenUnreachable, String(error));
    assert.equal(error.code, 'ECONNREFUSED');
    assert.match(error.message, /GET \/containers/);
    assert.equal(warnings.length, 2);
    const run = await client.runDetached('vm', { path: '/x' }).catch((caught: unknown) => caught);
    assert.ok(run instanceof GardenUnreachable);
    assert.equal(run.code, 'ECONNREFUSED');
  });

  it('gives GardenUnreachable ENOENT for a missing unix socket', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'garden-missing-'));
    try {
      const client = createGardenClient({ network: 'unix', address: path.join(dir, 'garden.sock'), logger: silentLogger, retry: { attempts: 1 } });
      const error = await client.create({ handle: 'vm' }).catch((caught: unknown) => caught);
      assert.ok(error instanceof GardenUnreachable, String(error));
      assert.equal(error.code, 'ENOENT');
      assert.match(error.message, /POST \/containers \(handle 'vm'\)/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a malformed TCP address', () => {
    assert.throws(() => createGardenClient({ network: 'tcp', address: 'localhost', logger: silentLogger }), /host:port/);
  });
});
