// Fault injection per route and the request/connection records tests and benchmarks count round trips with.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGardenEmulator, type GardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { connectTo, exchangeOne, parseResponse, rawExchange, request } from './raw-client';

describe('garden emulator: faults and records', () => {
  let root: string;
  let emulator: GardenEmulator;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'garden-emulator-faults-'));
    emulator = await startGardenEmulator({ listen: { host: '127.0.0.1', port: 0 }, stateDir: join(root, 'state') });
    await request(emulator, 'POST', '/containers', { handle: 'vm' });
  });
  beforeEach(() => {
    emulator.clearFaults();
    emulator.resetRecords();
  });
  after(async () => {
    await emulator.close();
    await rm(root, { recursive: true, force: true });
  });

  it('answers a route pattern with the injected status and error type, N times, then normally again', async () => {
    emulator.injectFault({
      method: 'GET',
      path: '/containers/:handle/info',
      status: 404,
      errorType: 'ContainerNotFoundError',
      message: 'unknown handle: vm',
      times: 2,
    });
    for (let i = 0; i < 2; i += 1) {
      const faulted = await request(emulator, 'GET', '/containers/vm/info');
      assert.equal(faulted.status, 404);
      assert.deepEqual(faulted.json(), { Type: 'ContainerNotFoundError', Message: 'unknown handle: vm', Handle: '', ProcessID: '', Binary: '' });
    }
    assert.equal((await request(emulator, 'GET', '/containers/vm/info')).status, 200);
    // A different method on the same path is not affected.
    emulator.injectFault({ method: 'DELETE', path: '/containers/vm' });
    assert.equal((await request(emulator, 'GET', '/containers/vm/info')).status, 200);
  });

  it('defaults to 500 with an empty Type; RegExp paths; clearFaults', async () => {
    emulator.injectFault({ path: /\/properties\//, message: 'disk full' });
    const faulted = await request(emulator, 'PUT', '/containers/vm/properties/a', { value: 'b' });
    assert.equal(faulted.status, 500);
    assert.deepEqual(faulted.json(), { Type: '', Message: 'disk full', Handle: '', ProcessID: '', Binary: '' });
    assert.equal(emulator.containerState('vm')?.properties.a, undefined, 'the faulted request did nothing');
    emulator.clearFaults();
    assert.equal((await request(emulator, 'PUT', '/containers/vm/properties/a', { value: 'b' })).status, 200);
  });

  it('drops the connection without an answer', async () => {
    emulator.injectFault({ path: '/ping', drop: true, times: 1 });
    const raw = await rawExchange(emulator.address, 'GET /ping HTTP/1.1\r\nHost: api\r\n\r\n');
    assert.equal(raw.length, 0);
    assert.equal((await request(emulator, 'GET', '/ping')).status, 200);
  });

  it('delays a request (alone: then answers normally), so a later request overtakes it', async () => {
    emulator.injectFault({ path: '/containers', method: 'GET', delayMs: 300, times: 1 });
    const order: string[] = [];
    const slow = request(emulator, 'GET', '/containers').then((response) => {
      order.push('slow');
      return response;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    await request(emulator, 'GET', '/ping').then(() => order.push('fast'));
    assert.deepEqual((await slow).json(), { Handles: ['vm'] });
    assert.deepEqual(order, ['fast', 'slow']);
  });

  it('a process route can be faulted before the hijack', async () => {
    emulator.injectFault({ path: '/containers/:handle/processes', status: 500, errorType: 'ExecutableNotFoundError', message: 'no bash' });
    const response = await request(emulator, 'POST', '/containers/vm/processes', { path: 'bash' });
    assert.equal(response.status, 500);
    assert.equal((response.json() as { Type: string }).Type, 'ExecutableNotFoundError');
    assert.equal(emulator.containerState('vm')?.processes.length, 0);
  });

  it('records every request with its connection; keep-alive requests share one', async () => {
    await request(emulator, 'PUT', '/containers/vm/properties/k?x=1', { value: 'v' });
    const tar = Buffer.alloc(10240);
    await request(emulator, 'PUT', '/containers/vm/files?user=root&destination=/tmp', undefined, { rawBody: tar, contentType: 'application/x-tar' });
    // Two requests on one keep-alive connection (curl-style, no Connection: close).
    const socket = connectTo(emulator.address);
    await new Promise((resolve) => socket.once('connect', resolve));
    const responses: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => responses.push(chunk));
    socket.write('GET /ping HTTP/1.1\r\nHost: x\r\n\r\nGET /capacity HTTP/1.1\r\nHost: x\r\n\r\n');
    while (!Buffer.concat(responses).toString().includes('max_containers')) await new Promise((resolve) => setTimeout(resolve, 5));
    socket.destroy();

    const records = emulator.requests;
    assert.deepEqual(
      records.map((record) => `${record.method} ${record.path}`),
      ['PUT /containers/vm/properties/k', 'PUT /containers/vm/files', 'GET /ping', 'GET /capacity'],
    );
    assert.deepEqual(records[0]?.query, { x: '1' });
    assert.deepEqual(records[0]?.body, { value: 'v' });
    assert.equal(records[0]?.headers['content-type'], 'application/json');
    assert.equal(records[1]?.body, 10240);
    assert.deepEqual(records[1]?.query, { user: 'root', destination: '/tmp' });
    assert.equal(records[2]?.connectionId, records[3]?.connectionId);
    assert.notEqual(records[0]?.connectionId, records[1]?.connectionId);
    assert.equal(emulator.connectionCount(), 3);
    assert.ok(typeof records[0]?.at === 'number' && records[0].at <= (records[3]?.at ?? 0));
    emulator.resetRecords();
    assert.equal(emulator.requests.length, 0);
    assert.equal(emulator.connectionCount(), 0);
  });

  it('large JSON answers switch to chunked encoding as Go does past 2048 bytes', async () => {
    for (let i = 0; i < 40; i += 1) await request(emulator, 'PUT', `/containers/vm/properties/key-${i}`, { value: 'x'.repeat(40) });
    const raw = await exchangeOne(emulator.address, 'GET /containers/vm/properties HTTP/1.1\r\nHost: api\r\n\r\n');
    const response = parseResponse(raw);
    assert.equal(response.headers['transfer-encoding'], 'chunked');
    assert.equal(response.headers['content-length'], undefined);
    assert.equal((response.json() as Record<string, string>)['key-39'], 'x'.repeat(40));
    const small = parseResponse(await exchangeOne(emulator.address, 'GET /ping HTTP/1.1\r\nHost: api\r\n\r\n'));
    assert.equal(small.headers['content-length'], '3');
  });
});
