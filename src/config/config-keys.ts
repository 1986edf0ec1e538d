/**
 * The keys cpi.json may carry, in both shapes: our job's snake_case (`actions.disks_dir`) and the upstream
 * release's Go field names (`Actions.DisksDir`, matched case-insensitively as Go's encoding/json does).
 * An unknown key is refused with its path as written and the nearest known key: a typo in an optional
 * key would otherwise fall back to the production default without a word.
 */

/** One key of cpi.json. */
interface KeySpec {
  /** The snake_case name (our job's cpi.json, and CpiConfig). */
  readonly name: string;
  /** Upstream's Go field name when it is not simply `name` in PascalCase (`NTP`). */
  readonly goName?: string;
  /**
   * Keys below this one, or: 'opaque' = a free-form map kept verbatim (blobstore options); 'ignored' =
   * an upstream key this CPI does not use, accepted by name and dropped with its value.
   */
  readonly children?: readonly KeySpec[] | 'opaque' | 'ignored';
  /** Stored under this canonical name instead (upstream's older `Blobstore.Type` is `provider`). */
  readonly alias?: string;
}

const AGENT_KEYS: readonly KeySpec[] = [
  { name: 'mbus' },
  { name: 'ntp', goName: 'NTP' },
  {
    name: 'blobstore',
    children: [{ name: 'provider' }, { name: 'type', alias: 'provider' }, { name: 'options', children: 'opaque' }],
  },
];

/** Everything cpi.json may hold (upstream's keys from its job template history, plus ours). */
const CONFIG_KEYS: readonly KeySpec[] = [
  {
    name: 'warden',
    children: [
      { name: 'connect_network' },
      { name: 'connect_address' },
      { name: 'garden_init_path' },
      { name: 'request_timeout_seconds' },
      { name: 'long_request_timeout_seconds' },
    ],
  },
  {
    name: 'actions',
    children: [
      { name: 'stemcells_dir' },
      { name: 'expand_stemcell_tarball' },
      { name: 'disks_dir' },
      { name: 'host_ephemeral_bind_mounts_dir' },
      { name: 'host_persistent_bind_mounts_dir' },
      { name: 'guest_ephemeral_bind_mount_path' },
      { name: 'guest_persistent_bind_mounts_dir' },
      { name: 'state_dir' },
      // Upstream nests the agent options here; ours has them at the top level. Both are read.
      { name: 'agent', children: AGENT_KEYS },
      // Upstream before 2022: the registry agent-env service ("file" or "registry") and its endpoint.
      { name: 'agent_env_service', children: 'ignored' },
      { name: 'registry', children: 'ignored' },
    ],
  },
  { name: 'agent', children: AGENT_KEYS },
  { name: 'start_containers_with_systemd', goName: 'StartContainersWithSystemD' },
  { name: 'log_level' },
];

function compact(key: string): string {
  return key.toLowerCase().replace(/[_-]/g, '');
}

/** `connect_network` matches itself and `ConnectNetwork`/`connectnetwork` (Go's case-insensitive match). */
function matches(raw: string, spec: KeySpec): boolean {
  const lower = raw.toLowerCase();
  return lower === spec.name || (!raw.includes('_') && lower === spec.name.replace(/_/g, ''));
}

function isGoStyle(raw: string): boolean {
  return /[A-Z]/.test(raw) && !raw.includes('_');
}

function goName(spec: KeySpec): string {
  return spec.goName ?? spec.name.replace(/(^|_)([a-z])/g, (_match, _sep: string, letter: string) => letter.toUpperCase());
}

const GO_NAMES = new Map<string, string>();
(function collect(specs: readonly KeySpec[]): void {
  for (const spec of specs) {
    if (spec.goName !== undefined) GO_NAMES.set(spec.name, spec.goName);
    if (Array.isArray(spec.children)) collect(spec.children);
  }
})(CONFIG_KEYS);

function spelled(spec: KeySpec, goStyle: boolean): string {
  return goStyle ? goName(spec) : spec.name;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, index) => index);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      current[j] = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** The known key nearest to a misspelt one, when it is near enough to be a typo of it. */
function nearest(raw: string, specs: readonly KeySpec[]): KeySpec | undefined {
  let best: { spec: KeySpec; distance: number } | undefined;
  for (const spec of specs) {
    const distance = editDistance(compact(raw), compact(spec.name));
    if (best === undefined || distance < best.distance) best = { spec, distance };
  }
  if (best === undefined) return undefined;
  return best.distance <= Math.max(2, Math.floor(compact(best.spec.name).length / 3)) ? best.spec : undefined;
}

function unknownKey(where: string, raw: string, specs: readonly KeySpec[]): string {
  const goStyle = isGoStyle(raw);
  const guess = nearest(raw, specs);
  const known = specs.filter((spec) => spec.children !== 'ignored' && spec.alias === undefined).map((spec) => spelled(spec, goStyle));
  const hint = guess === undefined ? '' : `, did you mean "${spelled(guess, goStyle)}"?`;
  return `${where}: unknown key "${raw}"${hint} (expected one of: ${known.join(', ')})`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** cpi.json with canonical snake_case keys, or the first key that is not known. */
export type NormalisedConfig =
  | {
      config: Record<string, unknown>;
      /** A canonical path (zod's issue path) as the config spells it, e.g. `['agent', 'mbus']` -> `Actions.Agent.Mbus`. */
      displayPath: (path: readonly PropertyKey[]) => string;
    }
  | { problem: string };

interface Spelling {
  where: string;
  goStyle: boolean;
}

/**
 * Renames every key to its canonical snake_case name, refusing unknown and doubled keys; lifts upstream's
 * `Actions.Agent` to the top-level `agent`. Values are left for the schema to check.
 */
export function normaliseConfigKeys(raw: Record<string, unknown>): NormalisedConfig {
  const spellings = new Map<string, Spelling>();

  function walk(object: Record<string, unknown>, specs: readonly KeySpec[], canonical: string, where: string): Record<string, unknown> | string {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(object)) {
      const at = where ? `${where}.${key}` : key;
      const spec = specs.find((candidate) => matches(key, candidate));
      if (spec === undefined) return unknownKey(at, key, specs);
      if (spec.children === 'ignored') continue;
      const name = spec.alias ?? spec.name;
      const path = canonical ? `${canonical}.${name}` : name;
      const earlier = spellings.get(path);
      if (earlier !== undefined) return `${at}: the same key as "${earlier.where}"; give it once`;
      spellings.set(path, { where: at, goStyle: isGoStyle(key) });
      if (Array.isArray(spec.children) && isRecord(value)) {
        const inner = walk(value, spec.children, path, at);
        if (typeof inner === 'string') return inner;
        out[name] = inner;
      } else {
        out[name] = value;
      }
    }
    return out;
  }

  const config = walk(raw, CONFIG_KEYS, '', '');
  if (typeof config === 'string') return { problem: config };

  const actions = config.actions;
  if (isRecord(actions) && actions.agent !== undefined) {
    if (config.agent !== undefined) {
      return {
        problem: `${spellings.get('actions.agent')?.where ?? 'actions.agent'}: the agent options are given twice (also as "${spellings.get('agent')?.where ?? 'agent'}"); give them once`,
      };
    }
    const { agent, ...rest } = actions;
    config.actions = rest;
    config.agent = agent;
    for (const [path, spelling] of [...spellings]) {
      if (path === 'actions.agent' || path.startsWith('actions.agent.')) spellings.set(path.slice('actions.'.length), spelling);
    }
  }

  const rootGoStyle = Object.keys(raw).some(isGoStyle);
  const displayPath = (path: readonly PropertyKey[]): string => {
    let out = '';
    let goStyle = rootGoStyle;
    let canonical = '';
    for (const segment of path) {
      if (typeof segment === 'number') {
        out += `[${segment}]`;
        continue;
      }
      canonical = canonical ? `${canonical}.${String(segment)}` : String(segment);
      const spelling = spellings.get(canonical);
      if (spelling !== undefined) {
        out = spelling.where;
        goStyle = spelling.goStyle;
      } else {
        const name = String(segment);
        const shown = goStyle ? goName({ name, goName: GO_NAMES.get(name) }) : name;
        out = out ? `${out}.${shown}` : shown;
      }
    }
    return out;
  };
  return { config, displayPath };
}
