// Byte-level comparison with traffic recorded from a live gdn (docs/garden-wire.md), in the recording's order.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGardenEmulator, type GardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { exchangeOne, parseResponse, readStream, startProcess, tarOf, withoutDate } from './raw-client';

const HANDLE = '4f5d2c1a-8e3b-4a6f-9d2e-1c7b5a3e9f20';

function curl(method: string, target: string, body?: string, contentType = 'application/json'): string {
  const head = `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1:7779\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n`;
  if (body === undefined) return `${head}\r\n`;
  return `${head}Content-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

function jsonResponse(status: string, body: string, extra = ''): string {
  return `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nDate: <date>\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
}

async function agentEnvTar(): Promise<Buffer> {
  const tar = await tarOf([{ name: 'warden-cpi-agent-env.json', mode: 0o644, content: '{"agent_id":"agent-1"}\n' }]);
  // The capture's client sent a 10240-byte (GNU record-size) archive.
  return Buffer.concat([tar, Buffer.alloc(10240 - tar.length)]);
}

describe('garden emulator: wire captures', () => {
  let root: string;
  let emulator: GardenEmulator;
  let stemcell: string;
  let ephemeral: string;
  let persistent: string;
  const send = async (bytes: string | Buffer): Promise<string> => withoutDate((await exchangeOne(emulator.address, bytes)).toString('latin1'));

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'garden-emulator-captures-'));
    stemcell = join(root, 'stemcell');
    ephemeral = join(root, 'ephemeral');
    persistent = join(root, 'persistent');
    for (const dir of [stemcell, ephemeral, persistent]) await mkdir(dir);
    emulator = await startGardenEmulator({ listen: { host: '127.0.0.1', port: 0 }, stateDir: join(root, 'state') });
  });
  after(async () => {
    await emulator.close();
    await rm(root, { recursive: true, force: true });
  });

  it('GET /ping', async () => {
    assert.equal(await send(curl('GET', '/ping')), jsonResponse('200 OK', '{}\n'));
  });

  it('POST /containers, then the same handle again, then a missing bind-mount source', async () => {
    const spec = {
      handle: HANDLE,
      image: { uri: stemcell },
      privileged: true,
      network: '10.244.0.34/24',
      bind_mounts: [
        { src_path: ephemeral, dst_path: '/var/vcap/data', mode: 1 },
        { src_path: persistent, dst_path: '/warden-cpi-dev', mode: 1 },
      ],
      properties: { 'bosh.agent_id': 'agent-1' },
      limits: { bandwidth_limits: {}, cpu_limits: {}, disk_limits: {}, memory_limits: {}, pid_limits: {} },
    };
    assert.equal(await send(curl('POST', '/containers', JSON.stringify(spec))), jsonResponse('200 OK', `{"Handle":"${HANDLE}"}\n`));
    assert.equal(
      await send(curl('POST', '/containers', JSON.stringify({ handle: HANDLE, image: { uri: stemcell }, privileged: true }))),
      jsonResponse('500 Internal Server Error', `{"Type":"","Message":"Handle '${HANDLE}' already in use","Handle":"","ProcessID":"","Binary":""}\n`),
    );
    const missing = {
      handle: 'vm-missing-src',
      image: { uri: stemcell },
      privileged: true,
      bind_mounts: [{ src_path: '/var/vcap/store/warden_cpi/no-such-dir', dst_path: '/x', mode: 1 }],
    };
    const expected =
      '{"Type":"","Message":"runc run: exit status 1: runc run failed: unable to start container process: error during container init: error mounting \\"/var/vcap/store/warden_cpi/no-such-dir\\" to rootfs at \\"/x\\": stat /var/vcap/store/warden_cpi/no-such-dir: no such file or directory","Handle":"","ProcessID":"","Binary":""}\n';
    const response = await send(curl('POST', '/containers', JSON.stringify(missing)));
    assert.equal(response, jsonResponse('500 Internal Server Error', expected));
    assert.match(response, /Content-Length: 319\r\n/);
  });

  it('GET /containers with and without property filters', async () => {
    const listed = `{"Handles":["${HANDLE}"]}\n`;
    assert.equal(await send(curl('GET', '/containers')), jsonResponse('200 OK', listed));
    assert.equal(await send(curl('GET', '/containers?bosh.agent_id=agent-1')), jsonResponse('200 OK', listed));
    assert.equal(await send(curl('GET', '/containers?bosh.agent_id=nobody')), jsonResponse('200 OK', '{"Handles":[]}\n'));
  });

  it('GET /containers/:handle/info: same keys, order and values as captured (interface names are random)', async () => {
    const captured =
      '{"State":"active","Events":null,"HostIP":"10.244.0.1","ContainerIP":"10.244.0.34","ContainerIPv6":"","ExternalIP":"192.0.2.2","ContainerPath":"<path>","ProcessIDs":null,"Properties":{"bosh.agent_id":"agent-1","garden.network.container-ip":"10.244.0.34","garden.network.external-ip":"192.0.2.2","garden.network.host-ip":"10.244.0.1","garden.state":"created","kawasaki.bridge-interface":"wbrdg-0af40000","kawasaki.container-interface":"w<inst>-1","kawasaki.dns-servers":"","kawasaki.host-entries":"","kawasaki.host-interface":"w<inst>-0","kawasaki.iptable-inst":"<inst>","kawasaki.iptable-prefix":"w--","kawasaki.mtu":"1400","kawasaki.subnet":"10.244.0.0/24"},"MappedPorts":[]}\n';
    const raw = await send(curl('GET', `/containers/${HANDLE}/info`));
    const response = parseResponse(Buffer.from(raw, 'latin1'));
    assert.equal(response.head, 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: <date>\r\nContent-Length: ' + response.body.length);
    const inst = /"kawasaki.iptable-inst":"([a-z0-9]{11})"/.exec(response.body.toString())?.[1] ?? 'missing';
    const normalised = response.body
      .toString()
      .replace(/"ContainerPath":"[^"]*"/, '"ContainerPath":"<path>"')
      .replaceAll(inst, '<inst>');
    assert.equal(normalised, captured);
  });

  it('GET info of an unknown handle: 404 ContainerNotFoundError', async () => {
    assert.equal(
      await send(curl('GET', '/containers/no-such-vm/info')),
      jsonResponse(
        '404 Not Found',
        '{"Type":"ContainerNotFoundError","Message":"unknown handle: no-such-vm","Handle":"no-such-vm","ProcessID":"","Binary":""}\n',
      ),
    );
  });

  it('properties: set, get, get missing (500), delete', async () => {
    const path = `/containers/${HANDLE}/properties`;
    assert.equal(await send(curl('PUT', `${path}/bosh.name`, '{"value":"zookeeper/0"}')), jsonResponse('200 OK', '{}\n'));
    assert.equal(await send(curl('GET', `${path}/bosh.name`)), jsonResponse('200 OK', '{"value":"zookeeper/0"}\n'));
    assert.equal(
      await send(curl('GET', `${path}/missing`)),
      jsonResponse('500 Internal Server Error', '{"Type":"","Message":"property does not exist: missing","Handle":"","ProcessID":"","Binary":""}\n'),
    );
    assert.equal(await send(curl('DELETE', `${path}/bosh.name`)), jsonResponse('200 OK', '{}\n'));
  });

  it('a JSON body sent as a form (curl default) is consumed as a form: 500 EOF', async () => {
    assert.equal(
      await send(curl('PUT', `/containers/${HANDLE}/properties/bosh.name`, '{"value":"x"}', 'application/x-www-form-urlencoded')),
      jsonResponse('500 Internal Server Error', '{"Type":"","Message":"EOF","Handle":"","ProcessID":"","Binary":""}\n'),
    );
  });

  it('PUT /files (tar) then GET /files: chunked octet-stream tar; a missing source is an empty 10240-byte tar', async () => {
    const tar = await agentEnvTar();
    const upload = Buffer.concat([
      Buffer.from(
        curl('PUT', `/containers/${HANDLE}/files?destination=/var/vcap/bosh/&user=root`, '', 'application/x-tar').replace(
          'Content-Length: 0',
          `Content-Length: ${tar.length}`,
        ),
      ),
      tar,
    ]);
    assert.equal(await send(upload), jsonResponse('200 OK', '{}\n'));
    assert.equal(emulator.requests.at(-1)?.body, 10240);

    const streamHead = 'HTTP/1.1 200 OK\r\nDate: <date>\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n';
    const out = await send(curl('GET', `/containers/${HANDLE}/files?source=/var/vcap/bosh/warden-cpi-agent-env.json&user=root`));
    assert.ok(out.startsWith(streamHead), out.slice(0, 200));
    const body = parseResponse(Buffer.from(out, 'latin1')).body;
    assert.equal(body.length % 10240, 0);
    assert.match(body.subarray(0, 512).toString('latin1'), /warden-cpi-agent-env\.json/);
    assert.match(body.toString('latin1'), /\{"agent_id":"agent-1"\}\n/);

    const missing = await send(curl('GET', `/containers/${HANDLE}/files?source=/var/vcap/bosh/missing.json&user=root`));
    const zeros = (n: number): string => '\0'.repeat(n);
    assert.equal(missing, `${streamHead}200\r\n${zeros(512)}\r\n2600\r\n${zeros(9728)}\r\n0\r\n\r\n`);
  });

  it('Go client style GET /containers with Connection: close', async () => {
    const request = 'GET /containers HTTP/1.1\r\nHost: api\r\nUser-Agent: Go-http-client/1.1\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n';
    assert.equal(await send(request), jsonResponse('200 OK', `{"Handles":["${HANDLE}"]}\n`, 'Connection: close\r\n'));
  });

  it('Run: 201 + chunked header, raw NDJSON frames; the exit frame may precede the attaches, which still get the output', async () => {
    emulator.scriptProcess((spec) => spec.path === '/bin/sh', { stdout: 'out-line\n', stderr: 'err-line\n', exitStatus: 3 });
    const { connection, processId, streamId } = await startProcess(emulator, HANDLE, {
      path: '/bin/sh',
      args: ['-c', 'echo out-line; echo err-line >&2; exit 3'],
      user: 'root',
      rlimits: {},
      image: {},
    });
    assert.equal(
      withoutDate(connection.head),
      'HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nDate: <date>\r\nTransfer-Encoding: chunked\r\n\r\n',
    );
    assert.match(streamId, /^\d+$/);
    assert.deepEqual(await connection.nextFrame(), { process_id: processId, exit_status: 3 });
    await connection.done;
    const stdout = await readStream(emulator, HANDLE, processId, streamId, 'stdout');
    assert.equal(withoutDate(stdout.head), 'HTTP/1.1 200 OK\r\nDate: <date>\r\nTransfer-Encoding: chunked\r\n\r\n');
    assert.equal(stdout.data, 'out-line\n');
    assert.equal((await readStream(emulator, HANDLE, processId, streamId, 'stderr')).data, 'err-line\n');
  });

  it('PUT stop, then info says stopped with rundmc.state; DELETE twice: 200 then 404', async () => {
    emulator.scriptProcess((spec) => spec.path === '/bin/sleep', { exitStatus: 0, detached: true });
    const sleeper = await startProcess(emulator, HANDLE, { path: '/bin/sleep', args: ['30'], user: 'root', rlimits: {}, image: {} });
    assert.equal(await send(curl('PUT', `/containers/${HANDLE}/stop`, '{"kill":false}')), jsonResponse('200 OK', '{}\n'));
    // Stop kills every process (SIGTERM: 128 + 15).
    assert.deepEqual(await sleeper.connection.nextFrame(), { process_id: sleeper.processId, exit_status: 143 });
    const info = parseResponse(Buffer.from(await send(curl('GET', `/containers/${HANDLE}/info`)), 'latin1')).json() as Record<string, unknown>;
    assert.equal(info.State, 'stopped');
    assert.equal((info.Properties as Record<string, string>)['rundmc.state'], 'stopped');
    assert.equal(await send(curl('DELETE', `/containers/${HANDLE}`)), jsonResponse('200 OK', '{}\n'));
    const again = await send(curl('DELETE', `/containers/${HANDLE}`));
    assert.equal(
      again,
      jsonResponse(
        '404 Not Found',
        `{"Type":"ContainerNotFoundError","Message":"unknown handle: ${HANDLE}","Handle":"${HANDLE}","ProcessID":"","Binary":""}\n`,
      ),
    );
    assert.match(again, /Content-Length: 174\r\n/);
  });
});
