import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCommandRunner } from '../../src/host/command-runner';
import { createHostMounts, decodeMountPath, parseMountInfo } from '../../src/host/mounts';
import { silentLogger } from '../../src/log/logger';
import { spawnedDuring } from '../support/spawned-during';
import { untilRunningIn } from '../support/until-running-in';

const runner = createCommandRunner();
const mounts = createHostMounts(runner, silentLogger, { busyAttempts: 3, busyDelayMs: 20 });

/**
 * The loop devices still bound to `image` once the kernel has had up to 2 s to free them: it frees an
 * autoclear device a moment after its last unmount (the CPI waits the same way: DiskAttachments.assertReleased).
 */
async function loopDevicesAfterRelease(image: string): Promise<string[]> {
  const deadline = Date.now() + 2000;
  while ((await mounts.loopDevicesFor(image)).length > 0 && Date.now() < deadline) await new Promise((done) => setTimeout(done, 50));
  return mounts.loopDevicesFor(image);
}

function makeExt4Image(path: string, sizeMb = 16): void {
  execFileSync('truncate', ['-s', `${sizeMb}M`, path]);
  execFileSync('mkfs.ext4', ['-F', '-q', path]);
}

function targetsIn(text: string, root: string): string[] {
  return parseMountInfo(text)
    .map((entry) => entry.target)
    .filter((target) => target === root || target.startsWith(`${root}/`));
}

/** Last-resort cleanup that does not depend on the code under test. */
function forceCleanup(root: string): void {
  for (let i = 0; i < 20; i += 1) {
    const left = targetsIn(execFileSync('cat', ['/proc/self/mountinfo'], { encoding: 'utf8' }), root);
    if (left.length === 0) break;
    try {
      execFileSync('umount', ['-l', left[left.length - 1]!], { stdio: 'ignore' });
    } catch {
      // keep trying the others
    }
  }
}

describe('parseMountInfo', () => {
  it('decodes octal escapes and splits optional fields', () => {
    const text =
      '36 35 98:0 /mnt1 /a\\040b\\011c\\134d rw,noatime shared:12 master:1 - ext4 /dev/loop\\0403 rw\n' + '40 36 0:5 / /x rw - tmpfs tmpfs rw\n';
    const [first, second] = parseMountInfo(text);
    assert.deepEqual(first, {
      mountId: 36,
      parentId: 35,
      device: '98:0',
      root: '/mnt1',
      target: '/a b\tc\\d',
      propagation: ['shared:12', 'master:1'],
      fstype: 'ext4',
      source: '/dev/loop 3',
    });
    assert.equal(second?.target, '/x');
    assert.deepEqual(second?.propagation, []);
    assert.equal(decodeMountPath('\\012'), '\n');
  });
});

describe('createHostMounts (real mounts, root)', () => {
  let root = '';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mounts-spec-'));
  });

  after(async () => {
    forceCleanup(root);
    await rm(root, { recursive: true, force: true });
  });

  it('binds a dir onto itself shared (and unbindable first), once only', async () => {
    const dir = join(root, 'bind me');
    await mkdir(dir);
    await mounts.bindOntoItself(dir, { unbindableFirst: true });
    await mounts.bindOntoItself(dir, { unbindableFirst: true });
    const at = await mounts.mountsAt(dir);
    assert.equal(at.length, 1);
    assert.ok(
      at[0]!.propagation.some((field) => field.startsWith('shared:')),
      JSON.stringify(at[0]),
    );
    assert.deepEqual(
      (await mounts.mountsUnder(root)).map((entry) => entry.target),
      [dir],
    );
    await mounts.unmountRecursive(dir);
    assert.deepEqual(await mounts.mountsUnder(root), []);
  });

  it('propagates a mount made under a shared self-bind into a bind of it elsewhere', async () => {
    const shared = join(root, 'shared');
    const view = join(root, 'view');
    await mkdir(join(shared, 'disk'), { recursive: true });
    await mkdir(view);
    try {
      await mounts.bindOntoItself(shared, { unbindableFirst: true });
      // What Garden does with the bind mount: a second view of the shared mount (a peer).
      execFileSync('mount', ['--bind', shared, view]);
      const image = join(root, 'prop.img');
      makeExt4Image(image);
      await mounts.mountImage(image, join(shared, 'disk'));
      await writeFile(join(shared, 'disk', 'hello'), 'from host');
      assert.equal(await readFile(join(view, 'disk', 'hello'), 'utf8'), 'from host');
      assert.ok((await mounts.mountsAt(join(view, 'disk'))).length === 1);
      await mounts.unmount(join(shared, 'disk'));
      // The unmount propagates too: the view no longer has the disk.
      assert.deepEqual(await mounts.mountsAt(join(view, 'disk')), []);
      assert.deepEqual(await loopDevicesAfterRelease(image), []);
    } finally {
      await mounts.unmountRecursive(view);
      await mounts.unmountRecursive(shared);
    }
    assert.deepEqual(await mounts.mountsUnder(root), []);
  });

  it('loop-mounts an image, finds its loop device and releases it on unmount', async () => {
    const image = join(root, 'disk.img');
    const target = join(root, 'target');
    await mkdir(target);
    makeExt4Image(image);
    await mounts.mountImage(image, target);
    try {
      const [device, ...rest] = await mounts.loopDevicesFor(image);
      assert.deepEqual(rest, []);
      assert.match(device ?? '', /^\/dev\/loop\d+$/);
      assert.deepEqual(await mounts.mountsUnder(target), [{ target, source: device }]);
      assert.equal(await mounts.loopBackingFile(device!), image);
    } finally {
      await mounts.unmount(target);
    }
    assert.deepEqual(await mounts.mountsAt(target), []);
    assert.deepEqual(await loopDevicesAfterRelease(image), []);
    await mounts.unmount(target); // not mounted: a no-op
  });

  it('finds every loop device of an image as losetup -j does, by any path to it, without starting a process', async () => {
    const image = join(root, 'twice.img');
    makeExt4Image(image);
    const alias = join(root, 'twice-link.img');
    await symlink(image, alias);
    const viewDir = join(root, 'bind-view');
    await mkdir(viewDir);
    execFileSync('mount', ['--bind', root, viewDir]);
    const devices = [0, 1].map(() => execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim());
    const started: string[] = [];
    const counting = createHostMounts({ run: (command, args, options) => (started.push(command), runner.run(command, args, options)) }, silentLogger);
    try {
      const byLosetup = execFileSync('losetup', ['-j', image], { encoding: 'utf8' })
        .split('\n')
        .map((line) => line.split(':')[0] ?? '')
        .filter((device) => device.startsWith('/dev/'))
        .sort((a, b) => Number(a.slice(9)) - Number(b.slice(9)));
      assert.deepEqual(byLosetup.length, 2);
      assert.deepEqual(await counting.loopDevicesFor(image), byLosetup);
      assert.deepEqual(await counting.loopDevicesFor(alias), byLosetup);
      // The kernel names the file by its path under root; the bind mount is another path to the same inode.
      assert.deepEqual(await counting.loopDevicesFor(join(viewDir, 'twice.img')), byLosetup);
      assert.deepEqual(await counting.loopDevicesFor(join(root, 'no-such.img')), []);
      assert.deepEqual(started, []);
    } finally {
      for (const device of devices) execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
      execFileSync('umount', [viewDir]);
    }
    assert.deepEqual(await mounts.loopDevicesFor(image), []);
  });

  it('releases a loop device that was set up without autoclear', async () => {
    const image = join(root, 'manual.img');
    const target = join(root, 'manual');
    await mkdir(target);
    makeExt4Image(image);
    const device = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
    try {
      execFileSync('mount', [device, target]);
      await mounts.unmount(target);
      // losetup -d marks the device for release; the kernel unbinds it at its last close, which another
      // process probing loop devices (mount, blkid) can delay by a moment.
      assert.deepEqual(await loopDevicesAfterRelease(image), []);
    } finally {
      forceCleanup(target);
      if (execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).trim() !== '') {
        execFileSync('losetup', ['-d', device], { stdio: 'ignore' });
      }
    }
  });

  it('unmounts nested and stacked mounts deepest first', async () => {
    const top = join(root, 'nest');
    await mkdir(top);
    await mounts.bindOntoItself(top, {});
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', top]); // stacked onto the bind
    await mkdir(join(top, 'a', 'b'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(top, 'a')]);
    await mkdir(join(top, 'a', 'b'));
    const image = join(root, 'nested.img');
    makeExt4Image(image);
    await mounts.mountImage(image, join(top, 'a', 'b'));
    assert.equal((await mounts.mountsUnder(top)).length, 4);
    await mounts.unmountRecursive(top);
    assert.deepEqual(await mounts.mountsUnder(top), []);
    assert.deepEqual(await mounts.loopDevicesFor(image), []);
  });

  it('unmounts what no loop device backs under several dirs with one umount process', async () => {
    const first = join(root, 'one');
    const second = join(root, 'two');
    await mkdir(join(first, 'sys', 'run'), { recursive: true });
    await mkdir(second);
    // delete_vm's shape: a self-bound dir with mounts inside it, another self-bound dir.
    await mounts.bindOntoItself(first, {});
    await mkdir(join(first, 'sys', 'run'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(first, 'sys', 'run')]);
    await mounts.bindOntoItself(second, {});
    assert.equal((await mounts.mountsUnder(first)).length + (await mounts.mountsUnder(second)).length, 3);
    assert.deepEqual(await spawnedDuring(() => mounts.unmountRecursive(first, second)), ['umount']);
    assert.deepEqual([...(await mounts.mountsUnder(first)), ...(await mounts.mountsUnder(second))], []);
  });

  it('unmounts a mount hidden under a later mount over its parent dir, with a loop-mounted disk beside it', async () => {
    const ephemeral = join(root, 'eph');
    const persistent = join(root, 'pers');
    await mkdir(join(ephemeral, 'sys', 'run'), { recursive: true });
    await mkdir(join(persistent, 'disk'), { recursive: true });
    // What a VM can leave: a tmpfs at sys/run, then another over sys that hides it (umount of sys/run then
    // answers "not mounted"); a disk makes every mount come off one at a time.
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(ephemeral, 'sys', 'run')]);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(ephemeral, 'sys')]);
    const image = join(root, 'beside.img');
    makeExt4Image(image);
    await mounts.mountImage(image, join(persistent, 'disk'));
    try {
      await mounts.unmountRecursive(ephemeral, persistent);
      assert.deepEqual([...(await mounts.mountsUnder(ephemeral)), ...(await mounts.mountsUnder(persistent))], []);
      assert.deepEqual(await loopDevicesAfterRelease(image), []);
    } finally {
      forceCleanup(ephemeral);
      forceCleanup(persistent);
    }
  });

  it('says a mount that umount cannot reach is hidden, at once, instead of retrying', async () => {
    const dir = join(root, 'hidden-one');
    await mkdir(join(dir, 'sys', 'run'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(dir, 'sys', 'run')]);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', join(dir, 'sys')]);
    try {
      await assert.rejects(mounts.unmount(join(dir, 'sys', 'run')), /umount cannot reach it: a mount over a parent dir hides it/);
    } finally {
      forceCleanup(dir);
    }
  });

  it('goes one mount at a time when the one umount fails (busy), and names the process holding the bind mount', async () => {
    const held = join(root, 'held');
    const free = join(root, 'free');
    await mkdir(held);
    await mkdir(free);
    await mounts.bindOntoItself(held, {});
    await mounts.bindOntoItself(free, {});
    const holder = spawn('sleep', ['300'], { cwd: held, stdio: 'ignore' });
    try {
      await untilRunningIn(holder.pid!, held);
      await assert.rejects(mounts.unmountRecursive(held, free), (error: Error) => {
        assert.match(error.message, /'.*held' is still busy after 3 unmount attempts/);
        // The process in the bind-mounted dir, not every user of the filesystem below it (fuser -m would say).
        assert.match(error.message, new RegExp(`held by: pid ${holder.pid} \\(sleep 300\\)$`));
        return true;
      });
    } finally {
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
    }
    await mounts.unmountRecursive(held, free);
    assert.deepEqual([...(await mounts.mountsUnder(held)), ...(await mounts.mountsUnder(free))], []);
  });

  it('gives up on a busy mount after bounded retries, naming the process that holds it', async () => {
    const image = join(root, 'busy.img');
    const target = join(root, 'busy');
    await mkdir(target);
    makeExt4Image(image);
    await mounts.mountImage(image, target);
    const holder = spawn('sleep', ['300'], { cwd: target, stdio: 'ignore' });
    try {
      await untilRunningIn(holder.pid!, target);
      await assert.rejects(mounts.unmount(target), (error: Error) => {
        assert.match(error.message, /still busy after 3 unmount attempts/);
        assert.match(error.message, /sleep/);
        assert.match(error.message, new RegExp(String(holder.pid)));
        return true;
      });
      assert.equal((await mounts.mountsAt(target)).length, 1);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((done) => holder.once('exit', done));
    }
    await mounts.unmount(target);
    // autoclear frees the device on its last close, which a udev probe of the unmount event may delay briefly.
    for (let wait = 0; wait < 50 && (await mounts.loopDevicesFor(image)).length > 0; wait += 1) {
      await new Promise((done) => setTimeout(done, 100));
    }
    assert.deepEqual(await mounts.loopDevicesFor(image), []);
  });
});

describe('HostMounts.unmount and a loop device the kernel is still releasing (stand-in sysfs)', () => {
  it('returns only once the device has lost its size, not just its backing file', async () => {
    // The kernel takes an autoclear loop device down in steps after its last unmount: backing file first,
    // size last. A mount -o loop in between got the half-released device with its old size (a grown disk
    // showed its old size). Here a stand-in /sys/block and mountinfo play that out: umount drops the backing
    // file at once and the size only some polls later.
    const dir = await mkdtemp(join(tmpdir(), 'loop-teardown-'));
    try {
      const sys = join(dir, 'block');
      await mkdir(join(sys, 'loop7', 'loop'), { recursive: true });
      await writeFile(join(sys, 'loop7', 'loop', 'backing_file'), '/disks/disk-1\n');
      await writeFile(join(sys, 'loop7', 'loop', 'autoclear'), '1\n');
      await writeFile(join(sys, 'loop7', 'size'), '65536\n');
      const mountInfo = join(dir, 'mountinfo');
      await writeFile(mountInfo, '100 1 7:7 / /vms/vm-1/disk-1 rw,relatime shared:50 - ext4 /dev/loop7 rw\n');
      let sizeReadsUntilFreed = 5;
      const runner = {
        async run(command: string) {
          assert.equal(command, 'umount');
          await writeFile(mountInfo, '');
          await rm(join(sys, 'loop7', 'loop', 'backing_file'));
          return { stdout: '', stderr: '' };
        },
      };
      const standIn = createHostMounts(runner as never, silentLogger, {
        mountInfoPath: mountInfo,
        sysBlockDir: sys,
        sleep: async () => {
          sizeReadsUntilFreed -= 1;
          if (sizeReadsUntilFreed === 0) await writeFile(join(sys, 'loop7', 'size'), '0\n');
        },
      });
      await standIn.unmount('/vms/vm-1/disk-1');
      assert.equal((await readFile(join(sys, 'loop7', 'size'), 'utf8')).trim(), '0', 'unmount returned while the device still had its size');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('HostMounts.mountImage and a loop device handed over with a stale size (stand-in sysfs)', () => {
  // Under load the kernel can hand `mount -o loop` a loop device it is still releasing, with the size and
  // cached filesystem of the image mounted before: a disk grown by resize_disk came up with its old size.
  async function standIn(sizesMb: number[]) {
    const dir = await mkdtemp(join(tmpdir(), 'loop-stale-'));
    const sys = join(dir, 'block');
    await mkdir(join(sys, 'loop7', 'loop'), { recursive: true });
    const mountInfo = join(dir, 'mountinfo');
    await writeFile(mountInfo, '');
    const image = join(dir, 'disk-1');
    await writeFile(image, '');
    await truncate(image, 96 * 1024 * 1024);
    const calls: string[] = [];
    const runner = {
      async run(command: string) {
        calls.push(command);
        if (command === 'mount') {
          const mb = sizesMb[calls.filter((call) => call === 'mount').length - 1] ?? 96;
          await writeFile(join(sys, 'loop7', 'loop', 'backing_file'), `${image}\n`);
          await writeFile(join(sys, 'loop7', 'size'), `${mb * 2048}\n`);
          await writeFile(mountInfo, '100 1 7:7 / /vms/vm-1/disk-1 rw,relatime shared:50 - ext4 /dev/loop7 rw\n');
        } else {
          await writeFile(mountInfo, '');
          await rm(join(sys, 'loop7', 'loop', 'backing_file'), { force: true });
          await writeFile(join(sys, 'loop7', 'size'), '0\n');
        }
        return { stdout: '', stderr: '' };
      },
    };
    const mounts = createHostMounts(runner as never, silentLogger, { mountInfoPath: mountInfo, sysBlockDir: sys, sleep: async () => undefined });
    return { dir, image, calls, mounts, mountInfo };
  }

  it('mounts again when the device is not the size of the image, and keeps the right one', async () => {
    const { dir, image, calls, mounts, mountInfo } = await standIn([32, 96]);
    try {
      await mounts.mountImage(image, '/vms/vm-1/disk-1');
      assert.deepEqual(calls, ['mount', 'umount', 'mount']);
      assert.match(await readFile(mountInfo, 'utf8'), /\/vms\/vm-1\/disk-1 /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives up after three stale devices, leaving nothing mounted, and says why', async () => {
    const { dir, image, calls, mounts, mountInfo } = await standIn([32, 32, 32]);
    try {
      await assert.rejects(mounts.mountImage(image, '/vms/vm-1/disk-1'), (error: Error) => {
        assert.match(
          error.message,
          /^Loop-mounting '.*disk-1' at '\/vms\/vm-1\/disk-1': the kernel gave \/dev\/loop7 with 33554432 bytes for a 100663296-byte image 3 times/,
        );
        return true;
      });
      assert.deepEqual(calls, ['mount', 'umount', 'mount', 'umount', 'mount', 'umount']);
      assert.equal(await readFile(mountInfo, 'utf8'), '');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
