import * as z from 'zod';
import { cidProblem } from '../ids/cid';

/** Every cid that touches a path (defined beside assertPlainId, which the services use). */
export { plainId } from '../ids/plain-id';

/** The upstream CPI's light stemcell cids, `light://<image reference>`: nothing of them is stored. */
export const UPSTREAM_LIGHT_STEMCELL_PREFIX = 'light://';

/** A stemcell cid: a plain id, or an upstream light stemcell cid (`light://<reference>`). */
export const stemcellCid = z.string().superRefine((value, context) => {
  if (value.startsWith(UPSTREAM_LIGHT_STEMCELL_PREFIX) && value.length > UPSTREAM_LIGHT_STEMCELL_PREFIX.length) return;
  const problem = cidProblem(value);
  if (problem !== undefined) {
    context.addIssue({ code: 'custom', message: `${problem} (or light://<reference>)` });
  }
});

/** Cloud properties stay opaque (possibly null or nested) until the action that owns them parses them. */
export const cloudProperties = z.unknown();

/** Metadata hashes: values may be strings, integers or anything else the Director sends. */
export const metadata = z.record(z.string(), z.unknown()).nullable();

/**
 * A disk size in MiB: a positive integer, at most 16 TiB (the largest file ext4, the usual host filesystem
 * for disks_dir, can hold), so an absurd size fails up front instead of half-way through truncate or mkfs.
 */
export const diskSizeMb = z
  .number()
  .int('must be a whole number of MiB')
  .positive('must be a positive number of MiB')
  .max(16 * 1024 * 1024, 'must be at most 16 TiB (16777216 MiB)');
