import { z } from 'zod';
import { InvalidRequest } from '../errors/cpi-errors';

/**
 * A cid that is safe to use as one path component: no '/', no '..', no NUL, not empty.
 * Every stemcell, VM, disk and snapshot cid passes through this before it touches a path.
 */
export const plainId = z
  .string()
  .min(1, 'must not be empty')
  .max(255, 'must be at most 255 characters')
  .refine((value) => !value.includes('/') && !value.includes('\0') && !value.includes('..') && value !== '.', {
    message: "must be a plain id (no '/', '..' or NUL)",
  });

/** Throws InvalidRequest unless `cid` is safe as one path component (callers validate too; this is the last guard). */
export function assertPlainId(kind: string, cid: string): string {
  const parsed = plainId.safeParse(cid);
  if (!parsed.success) throw new InvalidRequest(`Invalid ${kind} cid '${cid}': ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return cid;
}
