import * as z from 'zod';
import { CloudError } from '../errors/cpi-errors';

/**
 * One network of create_vm's `networks` argument. Only what the CPI reads is typed; every other key
 * (cloud_properties, routes, nic_group, …) is kept as sent, since the networks go back to the Director
 * and into the agent settings.
 */
export const networkSchema = z.looseObject({
  type: z.string().optional(),
  ip: z.string().optional(),
  netmask: z.string().optional(),
  gateway: z.string().optional(),
  // The Director sends `prefix` for the address itself ("32" for one IPv4 address), not the subnet.
  prefix: z.union([z.string(), z.number()]).optional(),
  dns: z.array(z.string()).nullable().optional(),
  default: z.array(z.string()).nullable().optional(),
});
export const networksSchema = z.record(z.string(), networkSchema);

export type Network = z.infer<typeof networkSchema>;
export type Networks = z.infer<typeof networksSchema>;

function isDefaultFor(network: Network, what: string): boolean {
  return (network.default ?? []).includes(what);
}

/** The network Garden configures: the one that is default for `gateway`, else the first one. */
export function defaultNetwork(networks: Networks): { name: string; network: Network } {
  const entries = Object.entries(networks);
  const chosen = entries.find(([, network]) => isDefaultFor(network, 'gateway')) ?? entries[0];
  if (chosen === undefined) throw new CloudError('Expected exactly one network; received zero');
  return { name: chosen[0], network: chosen[1] };
}

/** `255.255.255.0` -> 24; throws on a non-contiguous or malformed IPv4 netmask. */
export function netmaskToPrefix(netmask: string): number {
  const octets = netmask.split('.').map((part) => (/^\d{1,3}$/.test(part) ? Number(part) : Number.NaN));
  if (octets.length !== 4 || octets.some((octet) => !(octet >= 0 && octet <= 255))) {
    throw new CloudError(`Invalid netmask '${netmask}'`);
  }
  const bits = octets.map((octet) => octet.toString(2).padStart(8, '0')).join('');
  if (!/^1*0*$/.test(bits)) throw new CloudError(`Invalid netmask '${netmask}': not contiguous`);
  return bits.indexOf('0') === -1 ? 32 : bits.indexOf('0');
}

/**
 * Garden's `network` for the default network: `""` for dynamic (Garden allocates), else `ip/prefix`
 * with the prefix from the netmask (as upstream). Only without a netmask is the Director's `prefix` used.
 */
export function gardenNetworkFor(name: string, network: Network): string {
  if (network.type === 'dynamic') return '';
  if (network.type === 'vip') throw new CloudError(`Network '${name}' is a vip network; Garden needs a manual or dynamic one`);
  if (!network.ip) throw new CloudError(`Network '${name}' has no 'ip'`);
  if (network.netmask) return `${network.ip}/${netmaskToPrefix(network.netmask)}`;
  // A /31 or /32 leaves Garden no gateway address; a bare IP makes Garden use a /30 around it.
  const prefix = Number(network.prefix);
  if (Number.isInteger(prefix) && prefix > 0 && prefix < 31) return `${network.ip}/${prefix}`;
  return network.ip;
}

/** What Garden gave a container on a dynamic network (its container info). */
export interface DynamicAddress {
  /** ContainerIP: the container's IPv4 address. */
  ip: string;
  /** HostIP: the host end of the container's link, its default gateway. */
  gateway: string;
}

/**
 * The networks with the dynamic default network's address filled in from Garden (`ip`, `netmask`,
 * `gateway`, `prefix`), so that the agent reports it without finding it itself. The BOSH agent resolves a
 * dynamic network from the interface of its default route, and its route parser reads interface names as
 * `[a-z0-9]+`: Garden's container interfaces are named `<prefix><id>-1`, so in a Garden container it finds
 * nothing and `apply` records an empty IP (seen with bosh-agent v2.892.0; docs/real-bosh.md). A network
 * with a `prefix` other than "32" (or "") is taken as given by the agent. gdn hands each container on a
 * dynamic network a /30 of its pool, its HostIP being the gateway (docs/real-garden.md).
 * Networks that are not the default or not dynamic are returned as they are.
 */
export function withDynamicAddress(networks: Networks, name: string, address: DynamicAddress): Networks {
  const network = networks[name];
  if (network === undefined || network.type !== 'dynamic' || address.ip === '') return networks;
  return { ...networks, [name]: { ...network, ip: address.ip, netmask: '255.255.255.252', gateway: address.gateway, prefix: '30' } };
}

/** Upstream's BackfillDefaultDNS: the network that is default for `dns` gets the host's nameservers if it has none. */
export function backfillDefaultDns(networks: Networks, nameservers: readonly string[]): Networks {
  const entry = Object.entries(networks).find(([, network]) => isDefaultFor(network, 'dns'));
  if (entry === undefined || (entry[1].dns ?? []).length > 0) return networks;
  return { ...networks, [entry[0]]: { ...entry[1], dns: [...nameservers] } };
}

/** The `nameserver` lines of a resolv.conf. */
export function parseResolvConfNameservers(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[0] === 'nameserver' && fields[1] !== undefined)
    .map((fields) => fields[1] as string);
}
