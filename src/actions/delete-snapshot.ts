import * as z from 'zod';
import type { CallContext } from './call-context';
import { plainId } from './shared-schemas';
import type { DiskSnapshots } from '../disks/disk-snapshots';

export const deleteSnapshotArgs = z.tuple([plainId]).rest(z.unknown());

export interface DeleteSnapshotDeps {
  snapshots: Pick<DiskSnapshots, 'remove'>;
}

/** delete_snapshot: removes the copy and its metadata; an unknown cid succeeds. */
export async function deleteSnapshot(deps: DeleteSnapshotDeps, [snapshotCid]: z.infer<typeof deleteSnapshotArgs>, call: CallContext): Promise<null> {
  await deps.snapshots.remove(snapshotCid);
  call.logger.info('Deleted snapshot', { snapshot: snapshotCid });
  return null;
}
