import * as z from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import { withContext } from '../errors/cpi-errors';
import type { Locks } from '../host/file-lock';
import type { DiskAttachments } from '../disks/disk-attachments';
import { diskLockName } from '../disks/disk-paths';
import type { VmTeardown } from '../vms/vm-teardown';

export const deleteVmArgs = z.tuple([plainId]).rest(z.unknown());

export interface DeleteVmDeps {
  teardown: Pick<VmTeardown, 'deleteVm'>;
  attachments: Pick<DiskAttachments, 'disksOf' | 'thawFrozen' | 'assertReleased'>;
  locks: Locks;
}

/** Runs `work` holding the locks of `names`, taken one after the other in a fixed order (no deadlock). */
async function withLocks<T>(locks: Locks, names: string[], work: () => Promise<T>): Promise<T> {
  const [first, ...rest] = names;
  if (first === undefined) return work();
  return locks.withLock(first, () => withLocks(locks, rest, work));
}

/**
 * Destroys the container, removes its port rules, unmounts and removes its host dirs and records.
 * A VM that is already gone still gets whatever host state remains cleaned, and succeeds.
 * Each disk still attached is unmounted under its own lock (so never in the middle of a snapshot's copy),
 * with any leftover freeze thawed first, and its loop device must be released afterwards.
 */
export async function deleteVm(deps: DeleteVmDeps, [vmCid]: z.infer<typeof deleteVmArgs>, call: CallContext): Promise<null> {
  await withContext(`Deleting VM '${vmCid}'`, async () => {
    const started = performance.now();
    const disks = (await deps.attachments.disksOf(vmCid)).sort();
    call.logger.debug('Listed attached disks', { vm: vmCid, disks: disks.length, ms: Math.round((performance.now() - started) * 10) / 10 });
    await withLocks(deps.locks, disks.map(diskLockName), async () => {
      for (const disk of disks) await deps.attachments.thawFrozen(disk);
      await deps.teardown.deleteVm(vmCid);
      for (const disk of disks) await deps.attachments.assertReleased(disk);
    });
  });
  call.logger.info('Deleted VM', { vm: vmCid });
  return null;
}
