import * as z from 'zod';

// Go decodes JSON field names case-insensitively; the emulator lower-cases struct keys (never map keys)
// before validating, so `{"Handle":"x"}` works as it does against gdn.
function lowerKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([key, field]) => [key.toLowerCase(), field]));
}

const goStruct = <T extends z.ZodRawShape>(shape: T) => z.preprocess(lowerKeys, z.object(shape));

export const bindMountJson = goStruct({
  src_path: z.string().default(''),
  dst_path: z.string().default(''),
  /** 0 read-only (Go omits it), 1 read-write. */
  mode: z.number().int().default(0),
  /** Ignored by gdn: the source is always a host path. */
  origin: z.number().int().default(0),
});
export type BindMountJson = z.infer<typeof bindMountJson>;

const imageRef = goStruct({ uri: z.string().optional(), username: z.string().optional(), password: z.string().optional() });

export const containerSpecJson = goStruct({
  handle: z.string().optional(),
  /** Nanoseconds. */
  grace_time: z.number().optional(),
  rootfs: z.string().optional(),
  image: imageRef.optional(),
  bind_mounts: z.array(bindMountJson).nullish(),
  network: z.string().optional(),
  properties: z.record(z.string(), z.string()).nullish(),
  env: z.array(z.string()).nullish(),
  privileged: z.boolean().optional(),
  limits: z.record(z.string(), z.unknown()).nullish(),
  netout_rules: z.array(z.unknown()).nullish(),
  netin: z.array(z.unknown()).nullish(),
});
export type ContainerSpecJson = z.infer<typeof containerSpecJson>;

export const processSpecJson = goStruct({
  id: z.string().optional(),
  path: z.string().default(''),
  args: z.array(z.string()).nullish(),
  env: z.array(z.string()).nullish(),
  dir: z.string().optional(),
  user: z.string().optional(),
  rlimits: z.record(z.string(), z.unknown()).nullish(),
  limits: z.record(z.string(), z.unknown()).nullish(),
  tty: z.unknown().optional(),
  image: imageRef.optional(),
  bind_mounts: z.array(bindMountJson).nullish(),
});
export type ProcessSpecJson = z.infer<typeof processSpecJson>;

/** A client-to-server frame on a process's control connection (G `transport/payload.go`). */
export const processInputFrame = goStruct({
  process_id: z.string().optional(),
  source: z.number().int().optional(),
  data: z.string().optional(),
  tty: z.unknown().optional(),
  signal: z.number().int().optional(),
});
export type ProcessInputFrame = z.infer<typeof processInputFrame>;

export const stopRequestJson = goStruct({ kill: z.boolean().default(false) });
export const propertyValueJson = goStruct({ value: z.string().default('') });
export const netInRequestJson = goStruct({
  host_port: z.number().int().default(0),
  container_port: z.number().int().default(0),
});
