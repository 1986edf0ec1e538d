// Scripted processes over the hijacked process protocol (docs/garden-wire.md).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGardenEmulator, type GardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { connectTo, ProcessConnection, rawExchange, readStream, request, startProcess, withoutDate } from './raw-client';

describe('garden emulator: scripted processes', () => {
  let root: string;
  let emulator: GardenEmulator;
  const spec = (path: string, args: string[] = []) => ({ path, args, user: 'root', rlimits: {}, image: {} });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'garden-emulator-processes-'));
    emulator = await startGardenEmulator({ listen: { host: '127.0.0.1', port: 0 }, stateDir: join(root, 'state') });
    assert.equal((await request(emulator, 'POST', '/containers', { handle: 'vm' })).status, 200);
  });
  after(async () => {
    await emulator.close();
    await rm(root, { recursive: true, force: true });
  });

  it('an unscripted process exits 0 with no output; stream ids count up server-wide', async () => {
    const first = await startProcess(emulator, 'vm', spec('/bin/true'));
    assert.deepEqual(await first.connection.nextFrame(), { process_id: first.processId, exit_status: 0 });
    assert.equal((await readStream(emulator, 'vm', first.processId, first.streamId, 'stdout')).data, '');
    const second = await startProcess(emulator, 'vm', spec('/bin/true'));
    assert.equal(Number(second.streamId), Number(first.streamId) + 1);
    await second.connection.done;
  });

  it('the most recently registered matching script wins; the matcher sees spec and handle', async () => {
    const seen: string[] = [];
    emulator.scriptProcess(
      (processSpec, handle) => {
        seen.push(handle);
        return processSpec.path === '/bin/bash' && !(processSpec.args ?? []).some((arg) => arg.includes('runsvdir'));
      },
      { stdout: 'generic\n', exitStatus: 1 },
    );
    emulator.scriptProcess((processSpec) => processSpec.args?.includes('special') ?? false, {
      stdout: 'special\n',
      stderr: 'warn\n',
      exitStatus: 7,
      delayMs: 20,
    });
    const special = await startProcess(emulator, 'vm', spec('/bin/bash', ['-c', 'special']));
    const [stdout, stderr] = await Promise.all([
      readStream(emulator, 'vm', special.processId, special.streamId, 'stdout'),
      readStream(emulator, 'vm', special.processId, special.streamId, 'stderr'),
    ]);
    assert.equal(stdout.data, 'special\n');
    assert.equal(stderr.data, 'warn\n');
    assert.deepEqual(await special.connection.nextFrame(), { process_id: special.processId, exit_status: 7 });
    const generic = await startProcess(emulator, 'vm', spec('/bin/bash', ['-c', 'other']));
    assert.deepEqual(await generic.connection.nextFrame(), { process_id: generic.processId, exit_status: 1 });
    assert.ok(seen.includes('vm'));
  });

  it('records stdin frames; a detached script runs until signalled (terminate: 143)', async () => {
    emulator.scriptProcess((processSpec) => processSpec.path === '/bin/cat', { exitStatus: 0, detached: true });
    const cat = await startProcess(emulator, 'vm', { ...spec('/bin/cat'), id: 'my-cat' });
    assert.equal(cat.processId, 'my-cat');
    cat.connection.send({ process_id: 'my-cat', source: 0, data: 'line 1\n' });
    cat.connection.send({ process_id: 'my-cat', tty: { window_size: { columns: 80, rows: 24 } } });
    cat.connection.send({ process_id: 'my-cat', source: 0, data: 'line 2\n' });
    cat.connection.send({ process_id: 'my-cat', signal: 0 });
    assert.deepEqual(await cat.connection.nextFrame(), { process_id: 'my-cat', exit_status: 143 });
    const recorded = emulator.containerState('vm')?.processes.find((process) => process.id === 'my-cat');
    assert.equal(recorded?.stdin, 'line 1\nline 2\n');
    assert.equal(recorded?.exitStatus, 143);
    assert.deepEqual(recorded?.spec, { ...spec('/bin/cat'), id: 'my-cat' });
  });

  it('the agent start keeps running after its client leaves; attach gets a new stream id; destroy ends it', async () => {
    await request(emulator, 'POST', '/containers', { handle: 'agent-vm' });
    const agent = await startProcess(emulator, 'agent-vm', spec('/bin/bash', ['-c', 'umount /etc/hosts; exec env -i /usr/sbin/runsvdir-start']));
    agent.connection.socket.destroy();
    await agent.connection.done;
    assert.equal(emulator.containerState('agent-vm')?.processes[0]?.state, 'running');

    const duplicate = await request(emulator, 'POST', '/containers/agent-vm/processes', { ...spec('/bin/x'), id: agent.processId });
    assert.deepEqual(duplicate.json(), {
      Type: '',
      Message: `process ID '${agent.processId}' already in use`,
      Handle: '',
      ProcessID: '',
      Binary: '',
    });

    const socket = connectTo(emulator.address);
    const attached = new ProcessConnection(socket);
    socket.write(`GET /containers/agent-vm/processes/${agent.processId} HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\n\r\n`);
    const first = await attached.nextFrame();
    assert.equal(
      withoutDate(attached.head),
      'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: <date>\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    assert.equal(first?.process_id, agent.processId);
    assert.notEqual(first?.stream_id, agent.streamId);

    const missing = await request(emulator, 'GET', '/containers/agent-vm/processes/nope');
    assert.equal(missing.status, 404);
    assert.deepEqual(missing.json(), { Type: 'ProcessNotFoundError', Message: 'unknown process: nope', Handle: '', ProcessID: 'nope', Binary: '' });

    assert.equal((await request(emulator, 'DELETE', '/containers/agent-vm')).status, 200);
    assert.deepEqual(await attached.nextFrame(), { process_id: agent.processId, exit_status: 137 });
  });

  it('an unknown stream id: the head, then the connection closes', async () => {
    const raw = await rawExchange(emulator.address, 'GET /containers/vm/processes/x/attaches/99999/stdout HTTP/1.1\r\nHost: api\r\n\r\n');
    assert.equal(withoutDate(raw.toString()), 'HTTP/1.1 200 OK\r\nDate: <date>\r\nTransfer-Encoding: chunked\r\n\r\n');
  });

  it('frames after the first one and the stdin close are split correctly even in one TCP write', async () => {
    emulator.scriptProcess((processSpec) => processSpec.path === '/bin/head', { exitStatus: 0, detached: true });
    const socket = connectTo(emulator.address);
    const connection = new ProcessConnection(socket);
    const body = JSON.stringify({ ...spec('/bin/head'), id: 'one-write' });
    socket.write(
      `POST /containers/vm/processes HTTP/1.1\r\nHost: api\r\nContent-Length: ${body.length}\r\nContent-Type: application/json\r\n\r\n${body}` +
        '{"process_id":"one-write","source":0,"data":"a"}\n{"process_id":"one-write","source":0,"data":"b"}\n{"process_id":"one-write","source":0}\n{"signal":1}\n',
    );
    assert.equal((await connection.nextFrame())?.process_id, 'one-write');
    // After the stdin close frame gdn stops reading, so the kill frame is ignored: still running.
    for (let i = 0; i < 20 && emulator.containerState('vm')?.processes.find((p) => p.id === 'one-write')?.stdin !== 'ab'; i += 1) {
      await new Promise((resolve) => setImmediate(resolve));
    }
    const process = emulator.containerState('vm')?.processes.find((p) => p.id === 'one-write');
    assert.equal(process?.stdin, 'ab');
    assert.equal(process?.state, 'running');
    socket.destroy();
  });
});
