import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type CommandRunner, CommandFailed, createCommandRunner } from '../../src/host/command-runner';
import { createVmRootfs, volatileOverlaySupported } from '../../src/vms/vm-rootfs';

// A VM's copy-on-write root (docs/vm-rootfs.md): mounted volatile, so that unmounting it in delete_vm does
// not sync the whole host filesystem below it; without the option on kernels before 5.10.

/** The super options of the mount at `target` (overlayfs lists lowerdir, upperdir, ... there). */
async function superOptions(target: string): Promise<string[] | undefined> {
  for (const line of (await readFile('/proc/self/mountinfo', 'utf8')).split('\n')) {
    const fields = line.split(' ');
    if (fields[4] !== target) continue;
    const rest = fields.slice(fields.indexOf('-', 6) + 1);
    return (rest[2] ?? '').split(',');
  }
  return undefined;
}

/** Linux 6.x shows the `volatile` mount option as `fsync=volatile`; 5.10-5.x as `volatile`. */
function isVolatile(options: string[] | undefined): boolean {
  return options !== undefined && (options.includes('volatile') || options.includes('fsync=volatile'));
}

describe('VM root filesystem', () => {
  let dir: string;
  let stemcell: string;
  let n = 0;
  const dirs = () => ({
    state_dir: join(dir, 'state'),
    host_ephemeral_bind_mounts_dir: join(dir, 'e'),
    host_persistent_bind_mounts_dir: join(dir, 'p'),
  });
  const rootOf = (vm: string) => join(dir, 'state', 'rootfs', vm, 'root');

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vm-rootfs-'));
    stemcell = join(dir, 'stemcell');
    await mkdir(join(stemcell, 'etc'), { recursive: true });
    await writeFile(join(stemcell, 'etc', 'os-release'), 'ID=test\n');
  });
  after(async () => {
    for (let i = 1; i <= n; i += 1) execFileSync('umount', [rootOf(`vm-${i}`)], { stdio: 'ignore' });
    await rm(dir, { recursive: true, force: true });
  });

  /** A runner that records every command and fails `mount` when `refuse` says so, as a kernel would. */
  function recording(refuse: (args: readonly string[]) => string | undefined) {
    const calls: string[][] = [];
    const real = createCommandRunner();
    const runner: CommandRunner = {
      async run(command, args, options) {
        calls.push([command, ...args]);
        const refusal = command === 'mount' ? refuse(args) : undefined;
        if (refusal !== undefined) throw new CommandFailed(command, args, 32, refusal);
        return real.run(command, args, options);
      },
    };
    return { calls, runner };
  }

  it('mounts the overlay volatile, writable, over the stemcell', async () => {
    n += 1;
    const { calls, runner } = recording(() => undefined);
    const uri = await createVmRootfs({ dirs: dirs(), runner }).create(`vm-${n}`, stemcell);
    const root = rootOf(`vm-${n}`);
    assert.equal(uri, `raw://${root}`);
    assert.equal(calls.filter(([command]) => command === 'mount').length, 1);
    const options = await superOptions(root);
    assert.ok(isVolatile(options), `overlay options: ${String(options)}`);
    assert.equal(await readFile(join(root, 'etc', 'os-release'), 'utf8'), 'ID=test\n');
    await writeFile(join(root, 'etc', 'written-by-vm'), 'x');
    await assert.rejects(readFile(join(stemcell, 'etc', 'written-by-vm')), { code: 'ENOENT' });
  });

  it('mounts without volatile on a kernel before 5.10, with one mount', async () => {
    n += 1;
    const { calls, runner } = recording(() => undefined);
    await createVmRootfs({ dirs: dirs(), runner, kernelRelease: '5.4.0-150-generic' }).create(`vm-${n}`, stemcell);
    const mounts = calls.filter(([command]) => command === 'mount').map((call) => call.join(' '));
    assert.equal(mounts.length, 1, mounts.join('\n'));
    assert.doesNotMatch(mounts[0]!, /volatile/);
    assert.ok(!isVolatile(await superOptions(rootOf(`vm-${n}`))));
  });

  it('knows which kernels take volatile, by their release', () => {
    const cases: [string, boolean][] = [
      ['6.18.44-fc-v782', true],
      ['5.15.0-91-generic', true],
      ['5.10.0-28-amd64', true],
      ['5.4.0-150-generic', false],
      ['4.15.0-213-generic', false],
      ['weird', false],
    ];
    assert.deepEqual(
      cases.map(([release]) => volatileOverlaySupported(release)),
      cases.map(([, supported]) => supported),
    );
  });

  it("reports a failed mount's own error, naming the step, without mounting again", async () => {
    const { calls, runner } = recording(() => 'mount: overlay: maximum fs stacking depth exceeded');
    await assert.rejects(
      createVmRootfs({ dirs: dirs(), runner, kernelRelease: '6.8.0-45-generic' }).create('vm-failing', stemcell),
      (error: Error) => {
        assert.match(error.message, /^Making the VM root filesystem in '.*vm-failing': .*maximum fs stacking depth exceeded/);
        return true;
      },
    );
    assert.equal(calls.filter(([command]) => command === 'mount').length, 1);
  });
});
