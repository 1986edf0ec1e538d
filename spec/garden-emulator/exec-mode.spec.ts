// Exec mode: real mount namespaces chrooted into a busybox rootfs, real processes, real mount propagation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGardenEmulator, type GardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { execModeUnavailable, busyboxRootfs } from '../../testkit/rootfs';
import { readStream, request, startProcess, tarOf, withoutDate } from './raw-client';

const skip = execModeUnavailable();

function mountTargetsUnder(dir: string): string[] {
  return execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((target) => target === dir || target.startsWith(`${dir}/`));
}

/** Last-resort cleanup of the test's own host mounts, deepest first, independent of the code under test. */
function unmountAllUnder(dir: string): void {
  for (let i = 0; i < 20; i += 1) {
    const left = mountTargetsUnder(dir);
    if (left.length === 0) return;
    try {
      execFileSync('umount', ['-l', left[left.length - 1] ?? ''], { stdio: 'ignore' });
    } catch {
      // keep going
    }
  }
}

/**
 * Pins a namespace (an open fd keeps it, and so its id, alive) while `check` runs: a freed namespace's
 * id is reused by new namespaces, e.g. other test files' containers.
 */
async function withPinnedNamespace<T>(pid: number, check: (namespace: string) => Promise<T>): Promise<T> {
  const pinned = await open(`/proc/${pid}/ns/mnt`, 'r');
  try {
    return await check(await readlink(`/proc/${pid}/ns/mnt`));
  } finally {
    await pinned.close();
  }
}

async function namespaceMembers(namespace: string): Promise<number[]> {
  const members: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if ((await readlink(`/proc/${entry}/ns/mnt`).catch(() => '')) === namespace) members.push(Number(entry));
  }
  return members;
}

function initPidOf(emulator: GardenEmulator, handle: string): number {
  const view = emulator.containerState(handle)?.rootfsViewDir ?? '';
  return Number(/^\/proc\/(\d+)\/root/.exec(view)?.[1]);
}

async function runToEnd(emulator: GardenEmulator, handle: string, spec: Record<string, unknown>, stdin?: string) {
  const started = await startProcess(emulator, handle, { user: 'root', rlimits: {}, image: {}, ...spec });
  if (stdin !== undefined) {
    started.connection.send({ process_id: started.processId, source: 0, data: stdin });
    started.connection.send({ process_id: started.processId, source: 0 });
  }
  const [stdout, stderr, exit] = await Promise.all([
    readStream(emulator, handle, started.processId, started.streamId, 'stdout'),
    readStream(emulator, handle, started.processId, started.streamId, 'stderr'),
    started.connection.nextFrame(),
  ]);
  return { stdout: stdout.data, stderr: stderr.data, exit, processId: started.processId };
}

describe('garden emulator: exec mode', { skip }, () => {
  let root: string;
  let rootfs: string;
  let shared: string;
  let emulator: GardenEmulator;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'garden-emulator-exec-'));
    rootfs = join(root, 'rootfs');
    shared = join(root, 'persistent');
    await busyboxRootfs(rootfs);
    await mkdir(shared);
    emulator = await startGardenEmulator({ listen: { host: '127.0.0.1', port: 0 }, stateDir: join(root, 'state'), processMode: 'exec' });
  });
  after(async () => {
    await emulator?.close();
    unmountAllUnder(root);
    await rm(root, { recursive: true, force: true });
  });

  it('runs real processes in the chroot: output, exit status, stdin, env, working dir', async () => {
    const created = await request(emulator, 'POST', '/containers', { handle: 'exec-1', image: { uri: rootfs }, env: ['FROM_CONTAINER=yes'] });
    assert.equal(created.status, 200, created.body.toString());
    const result = await runToEnd(emulator, 'exec-1', {
      path: '/bin/sh',
      args: ['-c', 'echo out-line; echo err-line >&2; echo "$FROM_CONTAINER $FROM_PROCESS $USER $(pwd)"; ls /; exit 3'],
      env: ['FROM_PROCESS=also'],
      dir: '/tmp/work',
    });
    assert.deepEqual(result.exit, { process_id: result.processId, exit_status: 3 });
    assert.equal(result.stderr, 'err-line\n');
    const lines = result.stdout.split('\n');
    assert.equal(lines[0], 'out-line');
    assert.equal(lines[1], 'yes also root /tmp/work');
    // The chroot shows the busybox rootfs (busybox's /linuxrc), not the host's /.
    assert.ok(lines.includes('bin') && lines.includes('linuxrc') && !lines.includes('work'), result.stdout);

    const echoed = await runToEnd(emulator, 'exec-1', { path: 'cat' }, 'hello from stdin\n');
    assert.equal(echoed.stdout, 'hello from stdin\n');
    assert.deepEqual(echoed.exit, { process_id: echoed.processId, exit_status: 0 });
  });

  it('a missing executable is a 500 ExecutableNotFoundError before any hijack (captured bytes)', async () => {
    const body = '{"path":"/no/such/binary","user":"root","rlimits":{},"image":{}}';
    const response = await request(emulator, 'POST', '/containers/exec-1/processes', undefined, {
      rawBody: Buffer.from(body),
      contentType: 'application/json',
    });
    assert.equal(
      withoutDate(response.head + '\r\n'),
      'HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nDate: <date>\r\nContent-Length: 209\r\nConnection: close\r\n',
    );
    assert.equal(
      response.body.toString(),
      '{"Type":"ExecutableNotFoundError","Message":"exec failed: unable to start container process: exec: \\"/no/such/binary\\": stat /no/such/binary: no such file or directory","Handle":"","ProcessID":"","Binary":""}\n',
    );
  });

  it('streams files in and out of the live rootfs; the image directory is left untouched', async () => {
    const tar = await tarOf([{ name: 'settings.json', mode: 0o640, content: '{"a":1}' }]);
    const upload = await request(emulator, 'PUT', '/containers/exec-1/files?user=root&destination=/var/vcap/bosh/', undefined, {
      rawBody: tar,
      contentType: 'application/x-tar',
    });
    assert.equal(upload.status, 200);
    const read = await runToEnd(emulator, 'exec-1', { path: '/bin/cat', args: ['/var/vcap/bosh/settings.json'] });
    assert.equal(read.stdout, '{"a":1}');
    await runToEnd(emulator, 'exec-1', { path: '/bin/sh', args: ['-c', 'echo made-inside > /tmp/inside.txt'] });
    const out = await request(emulator, 'GET', '/containers/exec-1/files?user=root&source=/tmp/inside.txt');
    assert.match(out.body.toString('latin1'), /inside\.txt[\s\S]*made-inside\n/);
    assert.equal(existsSync(join(rootfs, 'var', 'vcap', 'bosh', 'settings.json')), false);
    assert.equal(existsSync(join(rootfs, 'tmp', 'inside.txt')), false);
  });

  it('signal frames reach the process: kill gives 137', async () => {
    const started = await startProcess(emulator, 'exec-1', { path: '/bin/sleep', args: ['1000'] });
    started.connection.send({ process_id: started.processId, signal: 1 });
    assert.deepEqual(await started.connection.nextFrame(), { process_id: started.processId, exit_status: 137 });
  });

  it('a mount made under a shared host bind-mount source AFTER the container started is visible inside it', async () => {
    execFileSync('mount', ['--bind', shared, shared]);
    execFileSync('mount', ['--make-shared', shared]);
    const created = await request(emulator, 'POST', '/containers', {
      handle: 'exec-disk',
      image: { uri: rootfs },
      bind_mounts: [{ src_path: shared, dst_path: '/warden-cpi-dev', mode: 1 }],
    });
    assert.equal(created.status, 200, created.body.toString());
    const before = await runToEnd(emulator, 'exec-disk', { path: '/bin/sh', args: ['-c', 'ls /warden-cpi-dev'] });
    assert.equal(before.stdout, '');

    // The "attach_disk" step: a new filesystem mounted under the shared source on the host.
    const disk = join(shared, 'disk-1');
    await mkdir(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk]);
    await writeFile(join(disk, 'on-the-disk.txt'), 'persistent data\n');

    const inside = await runToEnd(emulator, 'exec-disk', {
      path: '/bin/sh',
      args: ['-c', 'cat /warden-cpi-dev/disk-1/on-the-disk.txt && grep -c " /warden-cpi-dev/disk-1 " /proc/self/mountinfo'],
    });
    assert.equal(inside.stdout, 'persistent data\n1\n', "the file, and the mount listed in the container's mountinfo");
    assert.deepEqual(inside.exit, { process_id: inside.processId, exit_status: 0 });

    // The CPI's real attach: a loop-mounted ext4 image file, mounted while the container runs.
    const image = join(root, 'disk-2.img');
    execFileSync('truncate', ['-s', '16M', image]);
    execFileSync('mkfs.ext4', ['-F', '-q', image]);
    const loopTarget = join(shared, 'disk-2');
    await mkdir(loopTarget);
    execFileSync('mount', ['-o', 'loop', image, loopTarget]);
    await writeFile(join(loopTarget, 'ext4.txt'), 'on ext4\n');
    const onExt4 = await runToEnd(emulator, 'exec-disk', {
      path: '/bin/sh',
      args: ['-c', 'cat /warden-cpi-dev/disk-2/ext4.txt && grep " /warden-cpi-dev/disk-2 " /proc/self/mountinfo | grep -c ext4'],
    });
    assert.equal(onExt4.stdout, 'on ext4\n1\n');
    // Writes from inside land on the disk.
    await runToEnd(emulator, 'exec-disk', { path: '/bin/sh', args: ['-c', 'echo from-vm > /warden-cpi-dev/disk-2/written.txt'] });
    assert.equal(await readFile(join(loopTarget, 'written.txt'), 'utf8'), 'from-vm\n');
    execFileSync('umount', [loopTarget]);

    // Without the shared source the same late mount stays invisible (the test above is not vacuous).
    const privateDir = join(root, 'private');
    await mkdir(privateDir);
    // mode 0 (Go omits it) is read-only.
    await request(emulator, 'POST', '/containers', {
      handle: 'exec-private',
      image: { uri: rootfs },
      bind_mounts: [{ src_path: privateDir, dst_path: '/data' }],
    });
    const readOnly = await runToEnd(emulator, 'exec-private', { path: '/bin/sh', args: ['-c', 'touch /data/x'] });
    assert.notDeepEqual(readOnly.exit, { process_id: readOnly.processId, exit_status: 0 });
    assert.match(readOnly.stderr, /Read-only file system/);
    execFileSync('mount', ['--bind', privateDir, privateDir]);
    execFileSync('mount', ['--make-private', privateDir]);
    await mkdir(join(privateDir, 'late'), { recursive: true }).catch(() => undefined);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(privateDir, 'late')]);
    await writeFile(join(privateDir, 'late', 'x.txt'), 'x');
    const hidden = await runToEnd(emulator, 'exec-private', { path: '/bin/sh', args: ['-c', 'ls /data/late'] });
    assert.equal(hidden.stdout, '');

    // Detaching: the unmount propagates too.
    execFileSync('umount', [disk]);
    const afterDetach = await runToEnd(emulator, 'exec-disk', { path: '/bin/sh', args: ['-c', 'ls /warden-cpi-dev/disk-1'] });
    assert.equal(afterDetach.stdout, '');
  });

  it('a detached process keeps running after its client goes away; destroy kills everything in the namespace', async () => {
    const created = await request(emulator, 'POST', '/containers', { handle: 'exec-daemon', image: { uri: rootfs } });
    assert.equal(created.status, 200);
    const started = await startProcess(emulator, 'exec-daemon', { path: '/bin/sh', args: ['-c', 'sleep 1000 & sleep 1000'] });
    started.connection.socket.destroy();
    await started.connection.done;
    await withPinnedNamespace(initPidOf(emulator, 'exec-daemon'), async (namespace) => {
      for (let i = 0; i < 50 && (await namespaceMembers(namespace)).length < 3; i += 1) await new Promise((r) => setTimeout(r, 20));
      assert.equal((await namespaceMembers(namespace)).length >= 3, true, 'init and two sleeps (sh may exec the last one)');
      assert.equal(emulator.containerState('exec-daemon')?.processes[0]?.state, 'running');

      assert.equal((await request(emulator, 'DELETE', '/containers/exec-daemon')).status, 200);
      assert.deepEqual(await namespaceMembers(namespace), []);
    });
  });

  it('close() leaves no namespace process, no mount and no state behind', async () => {
    const pids = emulator.containerHandles().map((handle) => initPidOf(emulator, handle));
    assert.ok(pids.length >= 2);
    const pinned = await Promise.all(pids.map((pid) => open(`/proc/${pid}/ns/mnt`, 'r')));
    const namespaces = await Promise.all(pids.map((pid) => readlink(`/proc/${pid}/ns/mnt`)));
    const mountinfoBefore = await readFile('/proc/self/mountinfo', 'utf8');
    try {
      await emulator.close();
      for (const namespace of namespaces) assert.deepEqual(await namespaceMembers(namespace), []);
    } finally {
      await Promise.all(pinned.map((handle) => handle.close()));
    }
    assert.deepEqual(mountTargetsUnder(join(root, 'state')), []);
    assert.equal(existsSync(join(root, 'state', 'containers')), false);
    // The emulator never mounted anything in the host namespace: the only mounts are the test's own.
    assert.deepEqual(
      (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((line) => line.includes(join(root, 'state'))),
      mountinfoBefore.split('\n').filter((line) => line.includes(join(root, 'state'))),
    );
  });
});
