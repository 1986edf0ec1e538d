// The in-container unmount of detach_disk, run for real: the script goes to a shell in a private mount
// namespace (what a Garden process in the VM's container sees), where a loop device is mounted twice.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ExecResult, ProcessSpec } from '../../src/garden/garden-client';
import { CloudError } from '../../src/errors/cpi-errors';
import { silentLogger } from '../../src/log/logger';
import { createGuestMounts } from '../../src/vms/guest-mounts';

const run = promisify(execFile);

describe('GuestMounts.unmountDevices (inside a mount namespace)', () => {
  let dir: string;
  let device: string;
  let number: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'guest-mounts-'));
    execFileSync('truncate', ['-s', '16M', join(dir, 'disk.img')]);
    execFileSync('mkfs.ext4', ['-F', '-q', join(dir, 'disk.img')]);
    device = execFileSync('losetup', ['--find', '--show', join(dir, 'disk.img')], { encoding: 'utf8' }).trim();
    number = execFileSync('cat', [`/sys/block/${device.replace('/dev/', '')}/dev`], { encoding: 'utf8' }).trim();
  });
  after(async () => {
    execFileSync('losetup', ['-d', device]);
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * A stand-in for Garden's exec: `prepare` (shell) runs first in a fresh private mount namespace, then the
   * process spec; `after` runs last in the same namespace and its output is appended to stdout.
   */
  function namespaceGarden(prepare: string, afterwards = '', calls: string[] = []) {
    return {
      async exec(handle: string, spec: ProcessSpec): Promise<ExecResult> {
        calls.push(handle);
        const script = `${prepare}\n"$0" "$@"; status=$?\n${afterwards}\nexit $status`;
        const result = await run('unshare', ['-m', '--propagation', 'private', '/bin/sh', '-c', script, spec.path, ...(spec.args ?? [])]).then(
          ({ stdout, stderr }) => ({ exitStatus: 0, stdout, stderr }),
          (error: { code?: number; stdout?: string; stderr?: string }) => ({
            exitStatus: error.code ?? 1,
            stdout: error.stdout ?? '',
            stderr: error.stderr ?? '',
          }),
        );
        return result;
      },
    };
  }

  it('unmounts every mount of the device in the VM, deepest first, names with spaces included', async () => {
    const store = join(dir, 'vcap', 'store');
    const dev = join(dir, 'warden cpi dev', 'disk');
    const check = `echo "left: $(grep -c ' ${number} ' /proc/self/mountinfo)"`;
    const calls: string[] = [];
    const guest = createGuestMounts({
      garden: namespaceGarden(`mkdir -p '${store}' '${dev}' && mount ${device} '${dev}' && mount --bind '${dev}' '${store}'`, check, calls),
      logger: silentLogger,
    });
    const unmounted = await guest.unmountDevices('vm-1', [number]);
    // One process reads the mounts, one unmounts.
    assert.deepEqual(calls, ['vm-1', 'vm-1']);
    // The script's own lines, then the check's.
    assert.deepEqual(unmounted.slice(0, 2).sort(), [dev, store].sort());
    assert.equal(unmounted.at(-1), 'left: 0');
  });

  it('does nothing (and starts no process) without devices; reports nothing when none is mounted', async () => {
    const calls: string[] = [];
    const guest = createGuestMounts({ garden: namespaceGarden('true', '', calls), logger: silentLogger });
    assert.deepEqual(await guest.unmountDevices('vm-1', []), []);
    assert.deepEqual(calls, []);
    assert.deepEqual(await guest.unmountDevices('vm-1', [number]), []);
    assert.deepEqual(calls, ['vm-1'], 'nothing mounted: no unmount process');
  });

  it('answers a CloudError (ok_to_retry) naming the mount point that stays busy', async () => {
    const store = join(dir, 'busy-store');
    // A process with its cwd on the mount keeps it busy.
    const prepare = `mkdir -p '${store}' && mount ${device} '${store}' && cd '${store}'`;
    const guest = createGuestMounts({ garden: namespaceGarden(prepare), logger: silentLogger });
    await assert.rejects(guest.unmountDevices('vm-1', [number]), (error: Error) => {
      assert.ok(error instanceof CloudError);
      assert.equal(error.okToRetry, true);
      assert.match(error.message, new RegExp(`^Unmounting '${store}' inside VM 'vm-1' failed: .*busy`));
      return true;
    });
  });
});
