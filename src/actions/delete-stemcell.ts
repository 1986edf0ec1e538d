import * as z from 'zod';
import type { StemcellStore } from '../stemcells/stemcell-store';
import type { CallContext } from './call-context';
import { stemcellCid } from './shared-schemas';

/**
 * delete_stemcell(cid): a plain id, or the upstream CPI's light stemcell cid (`light://<ref>`), which
 * must still delete cleanly (as a no-op).
 */
export const deleteStemcellArgs = z.tuple([stemcellCid]).rest(z.unknown());

export interface DeleteStemcellDeps {
  stemcells: Pick<StemcellStore, 'delete'>;
}

/** Idempotent: an unknown cid succeeds (logged); data shared with other cids stays until the last goes. */
export async function deleteStemcell(deps: DeleteStemcellDeps, [cid]: z.infer<typeof deleteStemcellArgs>, call: CallContext): Promise<null> {
  await deps.stemcells.delete(cid, call.logger);
  return null;
}
