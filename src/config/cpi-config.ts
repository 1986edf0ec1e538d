import { dirname, join } from 'node:path';
// zod/mini: `info` validates config on every call and must start fast (full zod costs ~30 ms to load).
import * as z from 'zod/mini';

/**
 * cpi.json, as rendered by jobs/warden_cpi/templates/cpi.json.erb (snake_case, mirroring the job
 * properties) or as the upstream bosh-warden-cpi release renders it (PascalCase Go field names,
 * matched case-insensitively as Go's encoding/json does). Both normalise to CpiConfig.
 */

const absolutePath = z.string().check(z.refine((value) => value.startsWith('/'), 'must be an absolute path'));
const withDefault = <T extends z.ZodMiniType>(schema: T, value: z.output<T>) => z._default(schema, value as never);

/** A number of seconds in (0, max]; the message names the range and what came. */
const seconds = (max: number) =>
  z.number({ error: (issue) => `expected a number of seconds, got ${JSON.stringify(issue.input) ?? 'undefined'}` }).check(
    z.refine((value) => value > 0 && value <= max, {
      error: (issue) => `expected seconds greater than 0 and at most ${max}, got ${JSON.stringify(issue.input)}`,
    }),
  );

const blobstoreSchema = z.object({
  provider: z.string().check(z.minLength(1)),
  options: withDefault(z.record(z.string(), z.unknown()), {}),
});

export const cpiConfigSchema = z.object({
  warden: z.object({
    connect_network: z.enum(['tcp', 'unix']),
    connect_address: z.string().check(z.minLength(1)),
    /**
     * Garden's real init binary on the host, bind-mounted read-only into every container at
     * /var/vcap/data/garden-init for the per-VM init wrapper (docs/vm-init-contract.md);
     * null, or a path that does not exist, adds no mount.
     */
    garden_init_path: withDefault(z.nullable(absolutePath), '/var/vcap/packages/guardian/bin/init'),
    /**
     * Deadline of one Garden request on a JSON route (info, destroy, stop, properties, ...) and of a
     * process's start, in seconds, from its connection to its last byte. A missed deadline answers
     * CloudError (VMCreationFailed in create_vm) with ok_to_retry.
     */
    request_timeout_seconds: withDefault(seconds(3600), 30),
    /** The same for Garden's create (an image plugin may unpack a whole stemcell), stream_in and stream_out. */
    long_request_timeout_seconds: withDefault(seconds(86400), 600),
  }),
  actions: z.object({
    stemcells_dir: withDefault(absolutePath, '/var/vcap/store/warden_cpi/stemcells'),
    expand_stemcell_tarball: withDefault(z.boolean(), true),
    disks_dir: withDefault(absolutePath, '/var/vcap/store/warden_cpi/disks'),
    host_ephemeral_bind_mounts_dir: withDefault(absolutePath, '/var/vcap/store/warden_cpi/ephemeral_bind_mounts_dir'),
    host_persistent_bind_mounts_dir: withDefault(absolutePath, '/var/vcap/store/warden_cpi/persistent_bind_mounts_dir'),
    guest_ephemeral_bind_mount_path: withDefault(absolutePath, '/var/vcap/data'),
    guest_persistent_bind_mounts_dir: withDefault(absolutePath, '/warden-cpi-dev'),
    /** Lock files and the CPI's own records; defaults to `<parent of stemcells_dir>/cpi_state`. */
    state_dir: z.optional(absolutePath),
  }),
  agent: z.object({
    mbus: z.string().check(z.minLength(1)),
    ntp: withDefault(z.array(z.string()), []),
    blobstore: z.optional(z.nullable(blobstoreSchema)),
  }),
  start_containers_with_systemd: withDefault(z.boolean(), false),
  log_level: z.optional(z.enum(['debug', 'info', 'warn', 'error'])),
});

export type CpiConfigInput = z.input<typeof cpiConfigSchema>;
type ParsedConfig = z.infer<typeof cpiConfigSchema>;
export type CpiConfig = ParsedConfig & { actions: ParsedConfig['actions'] & { state_dir: string } };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Go's encoding/json matches keys case-insensitively; `ConnectNetwork` -> `connect_network`. */
function snakeCase(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2')
    .toLowerCase();
}

// Keys whose values are free-form maps that must keep their spelling (blobstore options).
const OPAQUE_KEYS = new Set(['options']);

function normaliseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(normaliseKeys);
  if (!isRecord(value)) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => {
      const name = snakeCase(key);
      return [name, OPAQUE_KEYS.has(name) ? inner : normaliseKeys(inner)];
    }),
  );
}

/** Upstream nests `agent` under `Actions`; ours has it at the top level. Accept both. */
function liftAgent(config: Record<string, unknown>): Record<string, unknown> {
  const actions = config.actions;
  if (config.agent === undefined && isRecord(actions) && actions.agent !== undefined) {
    const { agent, ...rest } = actions;
    return { ...config, actions: rest, agent };
  }
  return config;
}

export function formatIssuePath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}

export class InvalidConfig extends Error {
  override name = 'InvalidConfig';
}

/** Validates a parsed cpi.json; throws InvalidConfig naming the first bad field. */
export function parseCpiConfig(json: unknown): CpiConfig {
  if (!isRecord(json)) throw new InvalidConfig('config must be a JSON object');
  const result = cpiConfigSchema.safeParse(liftAgent(normaliseKeys(json) as Record<string, unknown>));
  if (!result.success) {
    const issue = result.error.issues[0];
    const field = issue ? formatIssuePath(issue.path) : '';
    throw new InvalidConfig(`config field '${field || '(root)'}': ${issue?.message ?? 'invalid'}`);
  }
  const config = result.data;
  const stateDir = config.actions.state_dir ?? join(dirname(config.actions.stemcells_dir), 'cpi_state');
  return { ...config, actions: { ...config.actions, state_dir: stateDir } };
}
