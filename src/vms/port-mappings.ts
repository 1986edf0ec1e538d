import { CloudError } from '../errors/cpi-errors';

/** An inclusive port range. */
export interface PortRange {
  start: number;
  end: number;
}

/** One `ports` entry of the VM cloud properties, validated with upstream's rules. */
export interface PortMapping {
  host: PortRange;
  container: PortRange;
  protocol: string;
}

// Upstream's regexp: `80`, `1000:2000`, `1000-2000` (spaces allowed around the separator).
const PORT_RANGE = /^([1-9][0-9]*)(\s*[-:]\s*([1-9][0-9]*))?$/;

export function parsePortRange(text: string): PortRange {
  const match = PORT_RANGE.exec(text);
  if (!match) throw new CloudError(`Port range must match '${PORT_RANGE.source}', got '${text}'`);
  const start = Number(match[1]);
  const end = match[3] === undefined ? start : Number(match[3]);
  if (start > 65535) throw new CloudError('Port range start must be > 0 and <= 65535');
  if (end > 65535) throw new CloudError('Port range end must be > 0 and <= 65535');
  if (start > end) throw new CloudError('Port range start must be <= end');
  return { start, end };
}

function length(range: PortRange): number {
  return range.end - range.start + 1;
}

/** Upstream semantics: container defaults to host, protocol to tcp; ranges must be identical and tcp/udp. */
export function parsePortMapping(entry: { host: string; container?: string; protocol?: string }): PortMapping {
  const host = parsePortRange(entry.host);
  const container = entry.container ? parsePortRange(entry.container) : host;
  const protocol = entry.protocol || 'tcp';
  if (length(host) !== length(container)) throw new CloudError('Host and container port ranges must have same length');
  if (length(host) > 1) {
    if (host.start !== container.start || host.end !== container.end) {
      throw new CloudError('Host and container port ranges must be same');
    }
    if (protocol !== 'tcp' && protocol !== 'udp') throw new CloudError('Port ranges can only be used with tcp or udp protocol');
  }
  return { host, container, protocol };
}

/** `80` or `1000<separator>2000` as iptables wants it (`:` for --dport, `-` for --to). */
export function formatPortRange(range: PortRange, separator: ':' | '-'): string {
  return range.start === range.end ? `${range.start}` : `${range.start}${separator}${range.end}`;
}
