import { z } from 'zod';
import type { CallContext } from './call-context';
import { metadata, plainId } from './shared-schemas';
import { withContext } from '../errors/cpi-errors';
import type { GardenClient } from '../garden/garden-client';
import type { VmFinder } from '../vms/vm-finder';

export const setVmMetadataArgs = z.tuple([plainId, metadata]).rest(z.unknown());

export interface SetVmMetadataDeps {
  garden: Pick<GardenClient, 'setProperty'>;
  vms: Pick<VmFinder, 'requirePresent'>;
}

// Property keys go into the URL path unescaped: keep them to a URL-safe alphabet.
export function metadataPropertyKey(key: string): string {
  return `bosh.${key.replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

// Garden properties are strings; the Director sends integers (index) and strings, tags as nested hashes.
export function metadataPropertyValue(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * Each metadata key becomes a Garden property `bosh.<key>` (one request per key, sent together). gdn answers
 * 200 to setting a property of a container it does not have, so the VM finder asks first (one info request):
 * a VM whose container is gone is VMNotFound.
 */
export async function setVmMetadata(deps: SetVmMetadataDeps, [vmCid, values]: z.infer<typeof setVmMetadataArgs>, _call: CallContext): Promise<null> {
  await withContext(`Setting metadata of VM '${vmCid}'`, async () => {
    await deps.vms.requirePresent(vmCid);
    await Promise.all(
      Object.entries(values ?? {}).map(([key, value]) => deps.garden.setProperty(vmCid, metadataPropertyKey(key), metadataPropertyValue(value))),
    );
  });
  return null;
}
