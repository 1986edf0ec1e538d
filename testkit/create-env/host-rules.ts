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
 * gdn's NAT rule for a container subnet: added in `w-<tag>-postrouting` with the first container of the subnet
 * (commented with that container's handle) and never removed by a container's destroy, only when gdn stops
 * (guardian kawasaki/iptables/instance_chain_creator.go: Create adds it once per subnet, Destroy prunes the
 * instance chains only). It outlives every VM of the subnet whatever the CPI does.
 */
export function isGardenSubnetMasquerade(rule: string, ours: { chainPrefix: string; subnet: string }): boolean {
  return rule.includes(`-A ${ours.chainPrefix}postrouting -s ${ours.subnet} ! -d ${ours.subnet} `) && rule.endsWith('-j MASQUERADE');
}

/**
 * Rules in `after` that were not in `before` and concern this deployment: a chain named with gdn's tag
 * prefix (`w-<tag>-`) or the VM subnet's network prefix (other engineers' gdns change rules meanwhile).
 * `leaked` are the ones a VM's deletion should have taken away; `keptByGarden` gdn's subnet NAT rule.
 */
export function newRules(
  before: IptablesRules,
  after: IptablesRules,
  ours: { chainPrefix: string; subnet: string },
): { leaked: string[]; keptByGarden: string[] } {
  const known = new Set(before);
  const subnetPrefix = ours.subnet.replace(/\.0\/\d+$/, '.');
  const added = after.filter((rule) => !known.has(rule) && (rule.includes(ours.chainPrefix) || rule.includes(subnetPrefix)));
  return {
    leaked: added.filter((rule) => !isGardenSubnetMasquerade(rule, ours)),
    keptByGarden: added.filter((rule) => isGardenSubnetMasquerade(rule, ours)),
  };
}
