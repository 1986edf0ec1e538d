import { dirname, join } from 'node:path';
// zod/mini: `info` validates config on every call and must start fast (full zod costs ~30 ms to load).
import * as z from 'zod/mini';
import { describeFirstIssue, describeValue, type ValidationIssue } from '../errors/validation-message';
import { normaliseConfigKeys } from './config-keys';

/**
 * cpi.json, as rendered by jobs/warden_cpi/templates/cpi.json.erb (snake_case, mirroring the job
 * properties) or as the upstream bosh-warden-cpi release renders it (PascalCase Go field names,
 * matched case-insensitively as Go's encoding/json does). Both normalise to CpiConfig.
 * Every key must be known (src/config/config-keys.ts): a misspelt optional key is an error, never a
 * silent fall-back to the production default.
 */

const absolutePath = z.string().check(z.refine((value) => value.startsWith('/'), 'must be an absolute path'));
const withDefault = <T extends z.ZodMiniType>(schema: T, value: z.output<T>) => z._default(schema, value as never);

/** A number of seconds in (0, max]; the message names the range (what came is added by the validation wording). */
const seconds = (max: number) =>
  z.number({ error: () => 'expected a number of seconds' }).check(
    z.refine((value) => value > 0 && value <= max, {
      error: () => `expected seconds greater than 0 and at most ${max}`,
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

export class InvalidConfig extends Error {
  override name = 'InvalidConfig';
}

/**
 * Validates a parsed cpi.json; throws InvalidConfig naming the first bad key by its path as written
 * (`Actions.DiskDir`, `warden.connect_network`) with what was expected and what came.
 */
export function parseCpiConfig(json: unknown): CpiConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidConfig(`(root): expected a JSON object, got ${describeValue(json)}`);
  }
  const normalised = normaliseConfigKeys(json as Record<string, unknown>);
  if ('problem' in normalised) throw new InvalidConfig(normalised.problem);
  const result = cpiConfigSchema.safeParse(normalised.config);
  if (!result.success) {
    throw new InvalidConfig(describeFirstIssue(result.error.issues as readonly ValidationIssue[], normalised.config, normalised.displayPath));
  }
  const config = result.data;
  const stateDir = config.actions.state_dir ?? join(dirname(config.actions.stemcells_dir), 'cpi_state');
  return { ...config, actions: { ...config.actions, state_dir: stateDir } };
}
