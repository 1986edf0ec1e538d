import { z } from 'zod';

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
