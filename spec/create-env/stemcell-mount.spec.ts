import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

// tools/bosh/stemcell/mount, the test stemcell's `mount` for the agent, run for real in a private mount
// namespace: a tmpfs named "diskdev" at disks/new stands for the CPI's /warden-cpi-dev/<cid> mount, and the
// agent's disk migration needs `mount` to list its bind of it under the bind source, not under "diskdev"
// (else: "Device diskdev is already mounted to …/disks/new, can't mount to …/store").

const wrapper = resolve(__dirname, '..', '..', 'tools', 'bosh', 'stemcell', 'mount');

/** Runs `script` with bash in a new private mount namespace; `$W` is the work dir, `$M` the wrapper. */
function inMountNamespace(work: string, script: string, mount = wrapper): string {
  const result = spawnSync('unshare', ['-m', '--propagation', 'private', 'bash', '-euc', script], {
    encoding: 'utf8',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', W: work, M: mount, BIND_MOUNT_RECORDS: join(work, 'records') },
  });
  assert.equal(result.status, 0, `${script}\n${result.stderr}`);
  return result.stdout;
}

/** `<source> <target>` of the listed mounts under `work`. */
function listed(output: string, work: string): string[] {
  return output
    .split('\n')
    .map((line) => /^(\S+) on (\S+) type /.exec(line))
    .filter((match): match is RegExpExecArray => match !== null && (match[2] ?? '').startsWith(work))
    .map((match) => `${(match[1] ?? '').replace(work, '$W')} ${(match[2] ?? '').replace(work, '$W')}`);
}

describe("test stemcell: the agent's `mount` (tools/bosh/stemcell/mount)", () => {
  let work = '';
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'garden-cpi-stemcell-mount-'));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const setup = 'mkdir -p "$W/disks/new" "$W/target" "$W/store"; /bin/mount -t tmpfs diskdev "$W/disks/new"; touch "$W/disks/new/marker";';

  it('lists a bind mount made through it under its source, the original mount under its device', () => {
    const output = inMountNamespace(work, `${setup} "$M" "$W/disks/new" "$W/target" -o bind; "$M"`);
    assert.deepEqual(listed(output, work), ['diskdev $W/disks/new', '$W/disks/new $W/target']);
  });

  it("the agent's migration remount works on its listing: the source it finds is bound again elsewhere", () => {
    // linux_mounter.go Remount: partition = the listed source of the target; umount; shouldMount; mount bind.
    const output = inMountNamespace(
      work,
      `${setup} "$M" "$W/disks/new" "$W/target" -o bind
       source=$("$M" | awk -v t="$W/target" '$3 == t { print $1 }')
       umount "$W/target"
       if "$M" | awk -v s="$source" -v t="$W/store" '$1 == s && $3 != t { found = 1 } END { exit !found }'; then
         echo "already mounted elsewhere: $source"; exit 3
       fi
       "$M" "$source" "$W/store" -o bind
       test -f "$W/store/marker"
       "$M"`,
    );
    assert.deepEqual(listed(output, work), ['diskdev $W/disks/new', '$W/disks/new $W/store']);
  });

  it('plain /bin/mount (no wrapper) lists the bind under the device, which is what broke the migration', () => {
    const output = inMountNamespace(work, `${setup} /bin/mount "$W/disks/new" "$W/target" -o bind; /bin/mount`, '/bin/mount');
    assert.deepEqual(listed(output, work), ['diskdev $W/disks/new', 'diskdev $W/target']);
  });

  it('a stale record (the target now holds another filesystem) is not used', () => {
    const output = inMountNamespace(
      work,
      `${setup} "$M" "$W/disks/new" "$W/target" -o bind; umount "$W/target"; /bin/mount -t tmpfs otherdev "$W/target"; "$M"`,
    );
    assert.deepEqual(listed(output, work), ['diskdev $W/disks/new', 'otherdev $W/target']);
  });

  it('passes other mounts and a failing mount through, with its exit status', () => {
    const output = inMountNamespace(
      work,
      `${setup} status=0; "$M" "$W/nonexistent" "$W/target" -o bind 2>/dev/null || status=$?; echo "status=$status"; test ! -s "$W/records" || cat "$W/records"`,
    );
    assert.match(output, /status=(?!0)\d+/);
    assert.doesNotMatch(output, /nonexistent/);
  });
});
