// Container semantics of gdn (docs/garden-wire.md), scripted mode, over raw TCP.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGardenEmulator, type GardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { parseResponse, rawExchange, request, tarOf } from './raw-client';

const errorBody = (message: string, type = '', handle = '') => ({ Type: type, Message: message, Handle: handle, ProcessID: '', Binary: '' });

describe('garden emulator: containers', () => {
  let root: string;
  let image: string;
  let emulator: GardenEmulator;
  const create = (spec: Record<string, unknown>) => request(emulator, 'POST', '/containers', { image: { uri: image }, ...spec });
  const info = async (handle: string) => (await request(emulator, 'GET', `/containers/${handle}/info`)).json() as Record<string, unknown>;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'garden-emulator-containers-'));
    image = join(root, 'image');
    await mkdir(join(image, 'etc'), { recursive: true });
    await writeFile(join(image, 'etc', 'os-release'), 'stemcell\n');
    emulator = await startGardenEmulator({ listen: { port: 0 }, stateDir: join(root, 'state') });
  });
  afterEach(async () => {
    for (const handle of emulator.containerHandles()) await request(emulator, 'DELETE', `/containers/${handle}`);
    assert.deepEqual(await readdir(join(root, 'state', 'containers')), [], 'destroy removes every per-container dir');
  });
  after(async () => {
    await emulator.close();
    await rm(root, { recursive: true, force: true });
  });

  it('an empty handle gets a UUIDv4; the spec is kept as sent', async () => {
    const response = await create({ properties: { a: 'b' } });
    const handle = (response.json() as { Handle: string }).Handle;
    assert.match(handle, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual(emulator.containerState(handle)?.spec, { image: { uri: image }, properties: { a: 'b' } });
    assert.equal((await request(emulator, 'DELETE', `/containers/${handle}`)).status, 200);
  });

  it('a duplicate handle is rejected with 500 and leaves the existing container untouched', async () => {
    assert.equal((await create({ handle: 'dup', properties: { owner: 'first' } })).status, 200);
    const again = await create({ handle: 'dup', properties: { owner: 'second' } });
    assert.equal(again.status, 500);
    assert.deepEqual(again.json(), errorBody("Handle 'dup' already in use"));
    assert.equal(emulator.containerState('dup')?.properties.owner, 'first');
    // Concurrent creates of one handle: exactly one wins.
    const racers = await Promise.all([create({ handle: 'race' }), create({ handle: 'race' })]);
    assert.deepEqual(racers.map((response) => response.status).sort(), [200, 500]);
  });

  it('a missing bind-mount source fails the create and leaves nothing behind (handle, IP, files)', async () => {
    const stateBefore = await readdir(join(root, 'state', 'containers'));
    const response = await create({
      handle: 'broken',
      network: '10.80.0.5/24',
      bind_mounts: [{ src_path: join(root, 'exists-not'), dst_path: '/data', mode: 1 }],
    });
    assert.equal(response.status, 500);
    assert.equal((response.json() as { Type: string }).Type, '');
    assert.equal(emulator.containerState('broken'), undefined);
    assert.ok(!emulator.containerHandles().includes('broken'));
    assert.deepEqual(await readdir(join(root, 'state', 'containers')), stateBefore);
    // The handle and the IP are still free.
    assert.equal((await create({ handle: 'broken', network: '10.80.0.5/24' })).status, 200);
    assert.equal((await info('broken')).ContainerIP, '10.80.0.5');
    await request(emulator, 'DELETE', '/containers/broken');
  });

  it('allocates networks as gdn does', async () => {
    await create({ handle: 'dyn-1' });
    await create({ handle: 'dyn-2', network: '' });
    assert.deepEqual([(await info('dyn-1')).HostIP, (await info('dyn-1')).ContainerIP], ['10.254.0.1', '10.254.0.2']);
    assert.deepEqual([(await info('dyn-2')).HostIP, (await info('dyn-2')).ContainerIP], ['10.254.0.5', '10.254.0.6']);
    await create({ handle: 'static-1', network: '10.244.0.34/24' });
    await create({ handle: 'static-2', network: '10.244.0.0/24' });
    await create({ handle: 'no-prefix', network: '10.252.0.2' });
    assert.equal((await info('static-1')).ContainerIP, '10.244.0.34');
    assert.equal((await info('static-1')).HostIP, '10.244.0.1');
    assert.equal((await info('static-2')).ContainerIP, '10.244.0.2', 'host bits zero: first free from network+2');
    assert.deepEqual([(await info('no-prefix')).ContainerIP, (await info('no-prefix')).HostIP], ['10.252.0.2', '10.252.0.1']);
    assert.equal(emulator.containerState('static-1')?.properties['kawasaki.subnet'], '10.244.0.0/24');
    const failures: [string, string][] = [
      ['10.244.0.34/24', 'the requested IP is already allocated'],
      ['10.244.0.1/24', 'a container IP must not equal the gateway IP'],
      ['10.244.0.255/24', 'a container IP must not equal the broadcast IP'],
      ['10.244.0.40/16', 'the requested subnet (10.244.0.0/16) overlaps an existing subnet (10.244.0.0/24)'],
      ['10.254.1.8/30', 'the requested subnet (10.254.1.8/30) overlaps the dynamic allocation range (10.254.0.0/22)'],
      ['nonsense', 'invalid CIDR address: nonsense/30'],
    ];
    for (const [network, message] of failures) {
      const response = await create({ network });
      assert.equal(response.status, 500, network);
      assert.deepEqual(response.json(), errorBody(message), network);
    }
    // Destroy frees the IP.
    await request(emulator, 'DELETE', '/containers/static-1');
    assert.equal((await create({ handle: 'static-1b', network: '10.244.0.34/24' })).status, 200);
    for (const handle of ['dyn-1', 'dyn-2', 'static-2', 'no-prefix', 'static-1b']) await request(emulator, 'DELETE', `/containers/${handle}`);
  });

  it('properties: user and garden.* ones, list filters, grace time, unknown-handle answers', async () => {
    await create({ handle: 'props', properties: { 'bosh.agent_id': 'agent-7' }, grace_time: 0 });
    const all = (await request(emulator, 'GET', '/containers/props/properties')).json() as Record<string, string>;
    assert.equal(all['bosh.agent_id'], 'agent-7');
    assert.equal(all['garden.state'], 'created');
    assert.equal(all['garden.network.container-ip'], (await info('props')).ContainerIP);
    assert.equal(all['garden.grace-time'], undefined);
    assert.deepEqual(Object.keys(all), [...Object.keys(all)].sort(), 'Go sorts map keys');

    assert.deepEqual((await request(emulator, 'GET', '/containers?bosh.agent_id=agent-7')).json(), { Handles: ['props'] });
    assert.deepEqual((await request(emulator, 'GET', '/containers?bosh.agent_id=agent-7&garden.state=all')).json(), { Handles: ['props'] });
    assert.deepEqual((await request(emulator, 'GET', '/containers?garden.state=creating')).json(), { Handles: [] });

    assert.equal((await request(emulator, 'PUT', '/containers/props/grace_time', 5_000_000_000)).status, 200);
    assert.equal(emulator.containerState('props')?.properties['garden.grace-time'], '5000000000');
    assert.equal((await request(emulator, 'PUT', '/containers/props/grace_time', 0)).status, 200);

    assert.equal((await request(emulator, 'DELETE', '/containers/props/properties/never-set')).status, 200);
    // gdn's Lookup never fails, so an unknown handle fails differently per route (docs/garden-wire.md, "Errors").
    assert.equal((await request(emulator, 'GET', '/containers/ghost/properties')).body.toString(), 'null\n');
    assert.equal((await request(emulator, 'PUT', '/containers/ghost/properties/k', { value: 'v' })).status, 200);
    assert.equal((await request(emulator, 'PUT', '/containers/ghost/grace_time', 1)).status, 200);
    assert.equal((await request(emulator, 'GET', '/containers/ghost/limits/bandwidth')).status, 200);
    assert.equal((await request(emulator, 'GET', '/containers/ghost/limits/memory')).status, 404);
    // gdn keeps properties by handle, container or not (measured: spec/real-garden/emulator-fidelity.spec.ts).
    assert.deepEqual((await request(emulator, 'GET', '/containers/ghost/properties/k')).json(), { value: 'v' });
    assert.deepEqual(
      (await request(emulator, 'PUT', '/containers/ghost/stop', { kill: true })).json(),
      errorBody('stop: pid not found for container: runc state: runc: exit status 1: container does not exist'),
    );
    assert.deepEqual(
      (await request(emulator, 'GET', '/containers/ghost/files?source=/x&user=')).json(),
      errorBody('stream-out: pid not found for container'),
    );
    assert.deepEqual((await request(emulator, 'POST', '/containers/ghost/processes', { path: 'x' })).json(), errorBody('does not exist'));
    assert.deepEqual(
      (await request(emulator, 'DELETE', '/containers/ghost')).json(),
      errorBody('unknown handle: ghost', 'ContainerNotFoundError', 'ghost'),
    );
    await request(emulator, 'DELETE', '/containers/props');
  });

  it('stop needs a body; bulk_info reports per-handle errors; router 404/405 are plain text', async () => {
    await create({ handle: 'bulk-a' });
    assert.deepEqual((await request(emulator, 'PUT', '/containers/bulk-a/stop')).json(), errorBody('EOF'));
    const bulk = (await request(emulator, 'GET', '/containers/bulk_info?handles=bulk-a,missing')).json() as Record<
      string,
      { Info: { State: string }; Err: unknown }
    >;
    assert.deepEqual(Object.keys(bulk), ['bulk-a', 'missing']);
    assert.equal(bulk['bulk-a']?.Info.State, 'active');
    assert.equal(bulk['bulk-a']?.Err, null);
    assert.deepEqual(bulk.missing?.Err, errorBody('unknown handle: missing'));
    const unknown = await request(emulator, 'GET', '/nothing/here');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(unknown.body.toString(), '404 page not found\n');
    const wrongMethod = await request(emulator, 'PUT', '/containers/bulk-a/limits/memory', {});
    assert.equal(wrongMethod.status, 405);
    assert.equal(wrongMethod.headers.allow, 'GET');
    await request(emulator, 'DELETE', '/containers/bulk-a');
  });

  it('stream_in lands in the per-container upper dir; stream_out falls back to the image directory', async () => {
    await create({ handle: 'files-a' });
    await create({ handle: 'files-b' });
    const tar = await tarOf([{ name: 'env.json', mode: 0o640, content: '{"id":"a"}' }]);
    const upload = await request(emulator, 'PUT', '/containers/files-a/files?user=root&destination=/var/vcap/bosh', undefined, {
      rawBody: tar,
      contentType: 'application/x-tar',
    });
    assert.equal(upload.status, 200);
    const view = emulator.containerState('files-a')?.rootfsViewDir ?? '';
    assert.equal(emulator.containerFile('files-a', '/var/vcap/bosh/env.json'), join(view, 'var', 'vcap', 'bosh', 'env.json'));
    assert.equal(emulator.containerFile('files-a', '/etc/os-release'), join(image, 'etc', 'os-release'));
    assert.equal(emulator.containerFile('files-b', '/var/vcap/bosh/env.json'), undefined);
    assert.deepEqual(await readdir(join(view, 'var', 'vcap', 'bosh')), ['env.json']);
    assert.deepEqual(await readdir(image), ['etc'], 'the image is never written');
    const fromUpper = await request(emulator, 'GET', '/containers/files-a/files?user=root&source=/var/vcap/bosh/env.json');
    assert.match(fromUpper.body.toString('latin1'), /env\.json[\s\S]*\{"id":"a"\}/);
    const fromImage = await request(emulator, 'GET', '/containers/files-b/files?user=root&source=/etc/os-release');
    assert.match(fromImage.body.toString('latin1'), /os-release[\s\S]*stemcell\n/);
    const notInB = await request(emulator, 'GET', '/containers/files-b/files?user=root&source=/var/vcap/bosh/env.json');
    assert.equal(notInB.status, 200);
    assert.deepEqual(notInB.body, Buffer.alloc(10240), 'another container does not see it: empty tar');
    // Go streams a non-bytes reader with chunked encoding; the emulator must accept that too.
    const chunkedTar = await tarOf([{ name: 'chunked.txt', mode: 0o644, content: 'sent in chunks' }]);
    const chunkedBody = Buffer.concat([
      Buffer.from(`${(1000).toString(16)}\r\n`),
      chunkedTar.subarray(0, 1000),
      Buffer.from('\r\n'),
      Buffer.from(`${(chunkedTar.length - 1000).toString(16)}\r\n`),
      chunkedTar.subarray(1000),
      Buffer.from('\r\n0\r\n\r\n'),
    ]);
    const chunked = parseResponse(
      await rawExchange(
        emulator.address,
        Buffer.concat([
          Buffer.from(
            'PUT /containers/files-a/files?user=root&destination=/tmp HTTP/1.1\r\nHost: api\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-tar\r\nConnection: close\r\n\r\n',
          ),
          chunkedBody,
        ]),
      ),
    );
    assert.equal(chunked.status, 200, chunked.body.toString());
    assert.equal(await readFile(join(view, 'tmp', 'chunked.txt'), 'utf8'), 'sent in chunks');
    const bad = await request(emulator, 'PUT', '/containers/files-a/files?user=root&destination=/x', undefined, {
      rawBody: Buffer.from('not a tar'),
      contentType: 'application/x-tar',
    });
    assert.equal(bad.status, 500);
    assert.match((bad.json() as { Message: string }).Message, /^stream-in: nstar: error streaming in: exit status 2\. Output: /);
  });

  it('net_in maps ports and records them; a grace time reaps an idle container', async () => {
    await create({ handle: 'ports' });
    const mapped = await request(emulator, 'POST', '/containers/ports/net/in', { handle: 'ports', host_port: 0, container_port: 8080 });
    assert.deepEqual(mapped.json(), { host_port: 61001, container_port: 8080 });
    assert.deepEqual((await info('ports')).MappedPorts, [{ HostPort: 61001, ContainerPort: 8080 }]);
    assert.equal(emulator.containerState('ports')?.properties['garden.network.mapped-ports'], '[{"HostPort":61001,"ContainerPort":8080}]');
    assert.equal((await request(emulator, 'POST', '/containers/ghost/net/in', { host_port: 1 })).status, 500);

    await create({ handle: 'reaped', grace_time: 50_000_000 });
    assert.equal(emulator.containerState('reaped')?.properties['garden.grace-time'], '50000000');
    while (emulator.containerHandles().includes('reaped')) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal((await request(emulator, 'GET', '/containers/reaped/info')).status, 404);
  });

  it('curl-style uploads with Expect: 100-continue get the interim response', async () => {
    await create({ handle: 'expect' });
    const tar = await tarOf([{ name: 'big.txt', mode: 0o644, content: 'y'.repeat(5000) }]);
    const raw = await rawExchange(
      emulator.address,
      Buffer.concat([
        Buffer.from(
          `PUT /containers/expect/files?user=root&destination=/d HTTP/1.1\r\nHost: api\r\nContent-Type: application/x-tar\r\nContent-Length: ${tar.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
        ),
        tar,
      ]),
    );
    assert.ok(raw.toString().startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n'), raw.toString());
  });

  it('rejects both image.uri and rootfs, and a missing image path', async () => {
    const both = await request(emulator, 'POST', '/containers', { image: { uri: image }, rootfs: image });
    assert.deepEqual(both.json(), errorBody('Cannot provide both Image.URI and RootFSPath'));
    const missing = await request(emulator, 'POST', '/containers', { image: { uri: join(root, 'no-image') } });
    assert.equal(missing.status, 500);
    const docker = await request(emulator, 'POST', '/containers', { handle: 'docker', image: { uri: 'docker:///cloudfoundry/warden-jammy#1.0' } });
    assert.equal(docker.status, 200);
    assert.equal(emulator.containerState('docker')?.rootfs.kind, 'docker');
    await request(emulator, 'DELETE', '/containers/docker');
  });
});
