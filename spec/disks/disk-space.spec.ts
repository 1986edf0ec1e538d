import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CloudError, NoDiskSpace } from '../../src/errors/cpi-errors';
import { CommandFailed } from '../../src/host/command-runner';
import { inDisksDir, isOutOfSpace } from '../../src/disks/disk-space';

const errno = (code: string) => Object.assign(new Error(`${code}: oops`), { code });

describe('disks_dir out of room', () => {
  it('reads ENOSPC, EDQUOT and EFBIG from Node and from commands, through wrapping causes', () => {
    const mkfs = new CommandFailed('mkfs.ext4', ['-F', '/d/x'], 1, 'mkfs.ext4: No space left on device while writing out and closing file system');
    const truncate = new CommandFailed('truncate', ['-s', '99999999M', '/d/x'], 1, "truncate: failed to truncate '/d/x' at 1 bytes: File too large");
    assert.equal(isOutOfSpace(mkfs), true);
    assert.equal(isOutOfSpace(truncate), true);
    assert.equal(isOutOfSpace(new CloudError('Making ext4 filesystem: ...', { cause: mkfs })), true);
    for (const code of ['ENOSPC', 'EDQUOT', 'EFBIG']) assert.equal(isOutOfSpace(errno(code)), true, code);
    assert.equal(isOutOfSpace(errno('EACCES')), false);
    assert.equal(isOutOfSpace(new CommandFailed('cp', [], 1, 'cp: cannot stat: No such file or directory')), false);
  });

  it('turns running out of room into NoDiskSpace (not retryable) naming the dir; anything else passes', async () => {
    const mkfs = new CommandFailed('mkfs.ext4', [], 1, 'No space left on device');
    await assert.rejects(
      inDisksDir('/var/vcap/store/warden_cpi/disks', 'a new 100 MiB image', () => Promise.reject(mkfs)),
      (error: Error) => {
        assert.ok(error instanceof NoDiskSpace);
        assert.equal(error.boshType, 'Bosh::Clouds::NoDiskSpace');
        assert.equal(error.okToRetry, false);
        assert.match(
          error.message,
          /^disks_dir '\/var\/vcap\/store\/warden_cpi\/disks' cannot hold a new 100 MiB image: 'mkfs\.ext4' failed: No space left on device$/,
        );
        return true;
      },
    );
    await assert.rejects(
      inDisksDir('/d', 'x', () => Promise.reject(errno('EACCES'))),
      /EACCES/,
    );
    assert.equal(await inDisksDir('/d', 'x', async () => 7), 7);
  });
});
