import { spawnSync } from 'node:child_process';

/**
 * The host's iptables rules of both backends, for the create-env demo's leak check: gdn writes through
 * iptables-legacy (scripts/real-garden.sh), garden-cpi through whatever `iptables` is (nf_tables on
 * Debian 12). Each entry is `<backend> <table> <rule>` with packet counters removed.
 */
export type IptablesRules = string[];

const BACKENDS = ['iptables-legacy-save', 'iptables-nft-save'];

/** Normalises iptables-save output: rules and chain declarations, without comments or counters. */
export function parseIptablesSave(backend: string, text: string): IptablesRules {
  const rules: string[] = [];
  let table = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line === 'COMMIT') continue;
    if (line.startsWith('*')) {
      table = line.slice(1);
      continue;
    }
    // ":CHAIN POLICY [packets:bytes]" -> ":CHAIN POLICY"; "[0:0] -A ..." (save -c) -> "-A ..."
    rules.push(`${backend} ${table} ${line.replace(/^\[\d+:\d+\]\s*/, '').replace(/\s*\[\d+:\d+\]$/, '')}`);
  }
  return rules;
}

/** Every rule and chain of both backends now; a backend that is not installed contributes nothing. */
export function iptablesRules(): IptablesRules {
  return BACKENDS.flatMap((command) => {
    const result = spawnSync(command, [], { encoding: 'utf8' });
    return result.status === 0 ? parseIptablesSave(command.replace(/-save$/, ''), result.stdout) : [];
  });
}

/**
 * Rules in `after` that were not in `before` and concern this deployment: a chain named with gdn's tag
 * prefix (`w-<tag>-`) or the VM subnet's network prefix (other engineers' gdns change rules meanwhile).
 */
export function newRules(before: IptablesRules, after: IptablesRules, ours: { chainPrefix: string; subnet: string }): string[] {
  const known = new Set(before);
  const subnetPrefix = ours.subnet.replace(/\.0\/\d+$/, '.');
  return after.filter((rule) => !known.has(rule) && (rule.includes(ours.chainPrefix) || rule.includes(subnetPrefix)));
}
