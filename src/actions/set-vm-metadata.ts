import { z } from 'zod';
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

/** Garden requests in flight at once (each is one connection, i.e. one file descriptor). */
export const METADATA_CONCURRENCY = 8;

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
 * Runs `work` for every item, at most `limit` at a time. After the first failure nothing new starts; the
 * ones in flight finish. Resolves with the items that succeeded and the first error (if any).
 */
async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<{ done: T[]; error?: unknown }> {
  const done: T[] = [];
  let failure: { error: unknown } | undefined;
  let next = 0;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const item = items[next] as T;
      next += 1;
      try {
        await work(item);
        done.push(item);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return failure === undefined ? { done } : { done, error: failure.error };
}

/**
 * Each metadata key becomes a Garden property `bosh.<key>`. Garden has no bulk property set, so: one read
 * of the container's properties, then one request per key whose value changes (unchanged keys cost
 * nothing), at most METADATA_CONCURRENCY at a time. If one fails, the keys already changed are put back
 * to their old values (or removed when they were new), so a failed call leaves the properties as they were.
 * gdn answers 200 to setting a property of a container it does not have (it keeps properties per handle),
 * so the VM finder asks first (one info request): a VM whose container is gone is VMNotFound.
 * Errors: VMNotFound; CloudError naming the VM.
 */
export async function setVmMetadata(deps: SetVmMetadataDeps, [vmCid, values]: z.infer<typeof setVmMetadataArgs>, call: CallContext): Promise<null> {
  await withContext(`Setting metadata of VM '${vmCid}'`, async () => {
    await deps.vms.requirePresent(vmCid);
    const wanted = new Map<string, string>();
    for (const [key, value] of Object.entries(values ?? {})) wanted.set(metadataPropertyKey(key), metadataPropertyValue(value));
    if (wanted.size === 0) return;
    const before = await deps.garden.properties(vmCid);
    const changes = [...wanted].filter(([key, value]) => before[key] !== value);
    const applied = await forEachLimited(changes, METADATA_CONCURRENCY, ([key, value]) => deps.garden.setProperty(vmCid, key, value));
    if (applied.error === undefined) {
      call.logger.debug('Set VM metadata', { vm: vmCid, keys: wanted.size, changed: changes.length });
      return;
    }
    // Every changed key is put back, even when one of these fails.
    const undoErrors: unknown[] = [];
    await forEachLimited(applied.done, METADATA_CONCURRENCY, async ([key]) => {
      const old = before[key];
      await (old === undefined ? deps.garden.removeProperty(vmCid, key) : deps.garden.setProperty(vmCid, key, old)).catch((error: unknown) => {
        undoErrors.push(error);
      });
    });
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
