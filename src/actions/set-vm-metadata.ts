import * as z from 'zod';
import type { CallContext } from './call-context';
import { metadata, plainId } from './shared-schemas';
import { CloudError, withContext } from '../errors/cpi-errors';
import type { GardenClient } from '../garden/garden-client';
import type { VmFinder } from '../vms/vm-finder';

export const setVmMetadataArgs = z.tuple([plainId, metadata]).rest(z.unknown());

export interface SetVmMetadataDeps {
  garden: Pick<GardenClient, 'properties' | 'setProperty' | 'removeProperty'>;
  vms: Pick<VmFinder, 'requirePresent'>;
}

// Keep property keys to a small alphabet (they are URL path segments, encoded as well, and gdn's names).
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
 * Runs `work` for every item, one after the other (so every request reuses the one keep-alive connection
 * to Garden). After the first failure nothing new starts. Resolves with the items that succeeded and the
 * first error (if any).
 */
async function forEachInTurn<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<{ done: T[]; error?: unknown }> {
  const done: T[] = [];
  for (const item of items) {
    try {
      await work(item);
      done.push(item);
    } catch (error) {
      return { done, error };
    }
  }
  return { done };
}

/**
 * Each metadata key becomes a Garden property `bosh.<key>`, where an operator listing containers sees it
 * (gdn's `properties`). Garden has no bulk property set, so: whether the container exists (the VM finder:
 * gdn answers 200 to reading or setting properties of a container it does not have), its properties, then
 * one request per key whose value changes (unchanged keys cost nothing), in turn over one keep-alive
 * connection. (Not the container's info, which carries both but costs gdn ~30 ms against ~1 ms for each
 * of the two: docs/vm-existence.md.) If one fails, the keys already changed are put back
 * to their old values (or removed when they were new), so a failed call leaves the properties as they were.
 * Errors: VMNotFound; CloudError naming the VM.
 */
export async function setVmMetadata(deps: SetVmMetadataDeps, [vmCid, values]: z.infer<typeof setVmMetadataArgs>, call: CallContext): Promise<null> {
  await withContext(`Setting metadata of VM '${vmCid}'`, async () => {
    await deps.vms.requirePresent(vmCid);
    const before = await deps.garden.properties(vmCid);
    const wanted = new Map<string, string>();
    for (const [key, value] of Object.entries(values ?? {})) wanted.set(metadataPropertyKey(key), metadataPropertyValue(value));
    const changes = [...wanted].filter(([key, value]) => before[key] !== value);
    const applied = await forEachInTurn(changes, ([key, value]) => deps.garden.setProperty(vmCid, key, value));
    if (applied.error === undefined) {
      call.logger.debug('Set VM metadata', { vm: vmCid, keys: wanted.size, changed: changes.length });
      return;
    }
    // Every changed key is put back, even when one of these fails.
    const undoErrors: unknown[] = [];
    for (const [key] of applied.done) {
      const old = before[key];
      await (old === undefined ? deps.garden.removeProperty(vmCid, key) : deps.garden.setProperty(vmCid, key, old)).catch((error: unknown) => {
        undoErrors.push(error);
      });
    }
    if (undoErrors.length > 0) {
      const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
      throw new CloudError(
        `${message(applied.error)}; putting back ${undoErrors.length} of the ${applied.done.length} properties already changed failed too: ${message(undoErrors[0])}`,
        { cause: applied.error, okToRetry: true },
      );
    }
    throw applied.error;
  });
  return null;
}
