import { serverError } from './garden-error';

/** What a container got from the pool (GU `kawasaki`): HostIP is the gateway, network + 1. */
export interface NetworkLease {
  /** CIDR of the container's subnet, e.g. `10.244.0.0/24`. */
  subnet: string;
  containerIp: string;
  hostIp: string;
}

interface Lease {
  network: number;
  prefix: number;
  ip: number;
  dynamic: boolean;
}

function parseIp(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

export function formatIp(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

function size(prefix: number): number {
  return 2 ** (32 - prefix);
}

function overlaps(a: { network: number; prefix: number }, b: { network: number; prefix: number }): boolean {
  return a.network < b.network + size(b.prefix) && b.network < a.network + size(a.prefix);
}

const cidr = (network: number, prefix: number): string => `${formatIp(network)}/${prefix}`;

/**
 * gdn's subnet/IP allocator (GU `kawasaki/subnets`, `spec_parser.go`): `""` takes the next free /30 of the
 * dynamic pool; `ip` means `ip/30`; `ip/n` uses that IP, or the first free one from network+2 when the host
 * bits are zero. Static subnets may be shared by equal requests but must not overlap anything else.
 */
export class NetworkPool {
  private readonly pool: { network: number; prefix: number };
  private readonly leases = new Set<Lease>();
  private readonly byContainerIp = new Map<string, Lease>();

  constructor(poolCidr = '10.254.0.0/22') {
    const [ip = '', prefix = ''] = poolCidr.split('/');
    const network = parseIp(ip);
    if (network === undefined || !/^\d+$/.test(prefix)) throw new Error(`bad network pool ${poolCidr}`);
    this.pool = { network: (network & maskOf(Number(prefix))) >>> 0, prefix: Number(prefix) };
  }

  /** How many /30s the dynamic pool holds (Capacity.max_containers is at most this). */
  dynamicSubnetCount(): number {
    return size(this.pool.prefix) / 4;
  }

  acquire(request: string): NetworkLease {
    const lease = request === '' ? this.dynamicLease() : this.staticLease(request);
    this.leases.add(lease);
    const result = {
      subnet: cidr(lease.network, lease.prefix),
      containerIp: formatIp(lease.ip),
      hostIp: formatIp(lease.network + 1),
    };
    this.byContainerIp.set(result.containerIp, lease);
    return result;
  }

  release(lease: NetworkLease): void {
    const held = this.byContainerIp.get(lease.containerIp);
    if (held === undefined) return;
    this.leases.delete(held);
    this.byContainerIp.delete(lease.containerIp);
  }

  private dynamicLease(): Lease {
    for (let network = this.pool.network; network < this.pool.network + size(this.pool.prefix); network += 4) {
      const taken = [...this.leases].some((lease) => lease.network === network && lease.prefix === 30);
      if (!taken) return { network, prefix: 30, ip: network + 2, dynamic: true };
    }
    throw serverError('insufficient subnets remaining in the pool');
  }

  private staticLease(request: string): Lease {
    const [ipText = '', prefixText] = request.includes('/') ? request.split('/') : [request, '30'];
    const ip = parseIp(ipText);
    const prefix = Number(prefixText);
    if (ip === undefined || !/^\d{1,2}$/.test(prefixText ?? '') || prefix > 32) {
      throw serverError(`invalid CIDR address: ${request.includes('/') ? request : `${request}/30`}`);
    }
    const subnet = { network: (ip & maskOf(prefix)) >>> 0, prefix };
    if (overlaps(subnet, this.pool)) {
      throw serverError(
        `the requested subnet (${cidr(subnet.network, prefix)}) overlaps the dynamic allocation range (${cidr(this.pool.network, this.pool.prefix)})`,
      );
    }
    for (const lease of this.leases) {
      if (lease.dynamic || (lease.network === subnet.network && lease.prefix === prefix)) continue;
      if (overlaps(subnet, lease)) {
        throw serverError(
          `the requested subnet (${cidr(subnet.network, prefix)}) overlaps an existing subnet (${cidr(lease.network, lease.prefix)})`,
        );
      }
    }
    const gateway = subnet.network + 1;
    const broadcast = subnet.network + size(prefix) - 1;
    const used = new Set([...this.leases].filter((lease) => lease.network === subnet.network).map((lease) => lease.ip));
    if (ip === subnet.network) {
      for (let candidate = subnet.network + 2; candidate < broadcast; candidate += 1) {
        if (!used.has(candidate)) return { ...subnet, ip: candidate, dynamic: false };
      }
      throw serverError('insufficient IPs remaining in the pool');
    }
    if (ip === gateway) throw serverError('a container IP must not equal the gateway IP');
    if (ip === broadcast) throw serverError('a container IP must not equal the broadcast IP');
    if (used.has(ip)) throw serverError('the requested IP is already allocated');
    return { ...subnet, ip, dynamic: false };
  }
}
