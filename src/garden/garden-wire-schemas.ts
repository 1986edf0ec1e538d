import * as z from 'zod';

/**
 * Garden wire types, spelled exactly as gdn sends and reads them (docs/garden-wire.md):
 * request bodies in snake_case with integer enums and nanosecond durations, responses of untagged Go
 * structs in PascalCase. Response schemas turn Go's `null` slices and maps into empty ones.
 */

// ---- requests -------------------------------------------------------------------------------------

/** BindMount.mode: 0 read-only (Go's zero value, so usually omitted), 1 read-write. */
export const BindMountMode = { RO: 0, RW: 1 } as const;
/** BindMount.origin: 0 host (default), 1 container. gdn ignores it: the source is always a host path. */
export const BindMountOrigin = { Host: 0, Container: 1 } as const;

export const bindMountSchema = z.object({
  src_path: z.string(),
  dst_path: z.string(),
  mode: z.union([z.literal(0), z.literal(1)]).optional(),
  origin: z.union([z.literal(0), z.literal(1)]).optional(),
});
export type BindMount = z.infer<typeof bindMountSchema>;

export const imageRefSchema = z.object({
  uri: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
});
export type ImageRef = z.infer<typeof imageRefSchema>;

export const bandwidthLimitsSchema = z.object({ rate: z.number().optional(), burst: z.number().optional() });
export const cpuLimitsSchema = z.object({ weight: z.number().optional(), limit_in_shares: z.number().optional() });
export const diskLimitsSchema = z.object({
  inode_soft: z.number().optional(),
  inode_hard: z.number().optional(),
  byte_soft: z.number().optional(),
  byte_hard: z.number().optional(),
  /** 0 total, 1 exclusive. */
  scope: z.union([z.literal(0), z.literal(1)]).optional(),
});
export const memoryLimitsSchema = z.object({ limit_in_bytes: z.number().optional() });
export const pidLimitsSchema = z.object({ max: z.number().optional() });
export type BandwidthLimits = z.infer<typeof bandwidthLimitsSchema>;
export type CpuLimits = z.infer<typeof cpuLimitsSchema>;
export type DiskLimits = z.infer<typeof diskLimitsSchema>;
export type MemoryLimits = z.infer<typeof memoryLimitsSchema>;
export type PidLimits = z.infer<typeof pidLimitsSchema>;

export const containerLimitsSchema = z.object({
  bandwidth_limits: bandwidthLimitsSchema.optional(),
  cpu_limits: cpuLimitsSchema.optional(),
  disk_limits: diskLimitsSchema.optional(),
  memory_limits: memoryLimitsSchema.optional(),
  pid_limits: pidLimitsSchema.optional(),
});
export type ContainerLimits = z.infer<typeof containerLimitsSchema>;

/** NetOutRule.protocol: 0 all, 1 tcp, 2 udp, 3 icmp, 4 icmpv6. */
export const NetOutProtocol = { All: 0, TCP: 1, UDP: 2, ICMP: 3, ICMPv6: 4 } as const;

export const netOutRuleSchema = z.object({
  protocol: z.number().int().min(0).max(4).optional(),
  networks: z.array(z.object({ start: z.string(), end: z.string() })).optional(),
  ports: z.array(z.object({ start: z.number().int(), end: z.number().int() })).optional(),
  icmps: z.object({ type: z.number().int(), code: z.number().int().optional() }).optional(),
  log: z.boolean().optional(),
});
export type NetOutRule = z.infer<typeof netOutRuleSchema>;

export const containerSpecSchema = z.object({
  /** Empty: gdn generates a UUIDv4. The CPI always passes the VM cid. */
  handle: z.string().optional(),
  /** Nanoseconds; 0 or absent means the server default (0 = never reap in GRR/bosh-lite). */
  grace_time: z.number().int().optional(),
  /** Legacy alternative to image.uri; never both. */
  rootfs: z.string().optional(),
  image: imageRefSchema.optional(),
  bind_mounts: z.array(bindMountSchema).optional(),
  /** "ip/prefix", "ip" (gets /30) or "" (next free /30 of the pool). */
  network: z.string().optional(),
  properties: z.record(z.string(), z.string()).optional(),
  /** "K=V" strings, inherited by every process including PID 1. */
  env: z.array(z.string()).optional(),
  privileged: z.boolean().optional(),
  limits: containerLimitsSchema.optional(),
  netout_rules: z.array(netOutRuleSchema).optional(),
  netin: z.array(z.object({ host_port: z.number().int(), container_port: z.number().int() })).optional(),
});
export type ContainerSpec = z.infer<typeof containerSpecSchema>;

export const windowSizeSchema = z.object({ columns: z.number().int(), rows: z.number().int() });
export type WindowSize = z.infer<typeof windowSizeSchema>;

const rlimit = z.number().int().optional();
export const rlimitsSchema = z.object({
  as: rlimit,
  core: rlimit,
  cpu: rlimit,
  data: rlimit,
  fsize: rlimit,
  locks: rlimit,
  memlock: rlimit,
  msgqueue: rlimit,
  nice: rlimit,
  nofile: rlimit,
  nproc: rlimit,
  rss: rlimit,
  rtprio: rlimit,
  sigpending: rlimit,
  stack: rlimit,
});

export const processSpecSchema = z.object({
  /** Empty: gdn generates a UUIDv4. A duplicate id fails the run. */
  id: z.string().optional(),
  path: z.string(),
  args: z.array(z.string()).optional(),
  /** "K=V", appended to the container env. */
  env: z.array(z.string()).optional(),
  dir: z.string().optional(),
  /** User name or "uid:gid"; empty means uid 0. */
  user: z.string().optional(),
  rlimits: rlimitsSchema.optional(),
  limits: z.object({ cpu_limits: cpuLimitsSchema.optional(), memory_limits: memoryLimitsSchema.optional() }).optional(),
  tty: z.object({ window_size: windowSizeSchema.optional() }).optional(),
  /** Non-empty: run in a separate rootfs ("pea"). */
  image: imageRefSchema.optional(),
  /** Only together with image. */
  bind_mounts: z.array(bindMountSchema).optional(),
});
export type ProcessSpec = z.infer<typeof processSpecSchema>;

// ---- responses ------------------------------------------------------------------------------------

const nullToEmptyList = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .nullable()
    .transform((value) => value ?? []);
const nullToEmptyMap = z
  .record(z.string(), z.string())
  .nullable()
  .transform((value): Record<string, string> => value ?? {});

export const emptyObjectSchema = z.object({});

/** The five-key error body of every gdn error response (docs/garden-wire.md). */
export const errorBodySchema = z.object({
  Type: z.string(),
  Message: z.string(),
  Handle: z.string().optional().default(''),
  ProcessID: z.string().optional().default(''),
  Binary: z.string().optional().default(''),
});
export type GardenErrorBody = z.infer<typeof errorBodySchema>;

export const handlesSchema = z.object({ Handles: nullToEmptyList(z.string()) });
export const handleSchema = z.object({ Handle: z.string() });

export const portMappingSchema = z.object({ HostPort: z.number(), ContainerPort: z.number() });

export const containerInfoSchema = z.object({
  /** "active" or "stopped". */
  State: z.string(),
  Events: nullToEmptyList(z.string()),
  /** The container's gateway. */
  HostIP: z.string(),
  ContainerIP: z.string(),
  ContainerIPv6: z.string().optional().default(''),
  ExternalIP: z.string(),
  /** "" in containerd mode. */
  ContainerPath: z.string().optional().default(''),
  ProcessIDs: nullToEmptyList(z.string()),
  Properties: nullToEmptyMap,
  MappedPorts: nullToEmptyList(portMappingSchema),
});
export type ContainerInfo = z.infer<typeof containerInfoSchema>;

export const propertiesSchema = nullToEmptyMap;

/** A server-to-client frame on a process control connection (docs/garden-wire.md). */
export const processFrameSchema = z.object({
  process_id: z.string().optional(),
  stream_id: z.string().optional(),
  exit_status: z.number().int().optional(),
  error: z.string().optional(),
});
export type ProcessFrame = z.infer<typeof processFrameSchema>;
