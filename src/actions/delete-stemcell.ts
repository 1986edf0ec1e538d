import { z } from 'zod';
import type { StemcellStore } from '../stemcells/stemcell-store';
import type { CallContext } from './call-context';

/**
 * delete_stemcell(cid). The cid is checked by the store rather than by plainId here, because the
 * upstream CPI's light stemcell cids (`light://<ref>`) must still delete cleanly (as a no-op).
 */
export const deleteStemcellArgs = z.tuple([z.string().min(1, 'must not be empty')]).rest(z.unknown());

export interface DeleteStemcellDeps {
  stemcells: Pick<StemcellStore, 'delete'>;
}

/** Idempotent: an unknown cid succeeds (logged); data shared with other cids stays until the last goes. */
export async function deleteStemcell(
  deps: DeleteStemcellDeps,
  [cid]: z.infer<typeof deleteStemcellArgs>,
  call: CallContext,
): Promise<null> {
  await deps.stemcells.delete(cid, call.logger);
  return null;
}
