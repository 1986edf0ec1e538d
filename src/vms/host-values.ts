import { isIP } from 'node:net';
import { CloudError } from '../errors/cpi-errors';
import type { Logger } from '../log/logger';
import { parseResolvConfNameservers } from './networks';

/**
 * Values that reach a container from the host: the nameservers backfilled into the agent settings (read
 * from the host's resolv.conf) and the agent options of cpi.json (mbus, ntp, blobstore). A container has
 * its own network namespace, so the host's loopback (127.0.0.0/8, ::1) is not reachable from it: such an
 * address is never handed over. What the CPI picks itself is filtered (and the reason logged); what the
 * operator configured is refused with an error naming the key, since the VM could never use it.
 */

/** The host's resolver config, and systemd-resolved's list of the real upstream servers behind its stub. */
export const HOST_RESOLV_CONF = '/etc/resolv.conf';
export const SYSTEMD_RESOLVED_UPSTREAM = '/run/systemd/resolve/resolv.conf';

/** `127.0.0.53`, `::1`, `::ffff:127.0.0.1`, `localhost`: an address only the host itself can reach. */
export function isLoopbackAddress(address: string): boolean {
  const host = address
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/%.*$/, '')
    .toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) {
    if (/^(0{0,4}:){2,7}0{0,3}1$|^::1$/.test(host)) return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

export interface HostNameserverDeps {
  /** A file's text, or undefined when it does not exist or cannot be read. */
  readFile: (path: string) => Promise<string | undefined>;
  logger: Logger;
}

/**
 * The nameservers to backfill into a VM's default DNS network: the host's, without loopback ones. When
 * all the host has is a local stub (systemd-resolved's 127.0.0.53, dnsmasq's 127.0.0.1), the servers
 * behind it come from systemd-resolved's upstream list; when none is left, `[]` and a log line saying why.
 */
export async function hostNameservers(deps: HostNameserverDeps): Promise<string[]> {
  const hostList = parseResolvConfNameservers((await deps.readFile(HOST_RESOLV_CONF)) ?? '');
  const usable = hostList.filter((server) => !isLoopbackAddress(server));
  const dropped = hostList.filter(isLoopbackAddress);
  if (usable.length > 0) {
    if (dropped.length > 0) deps.logger.info('Not backfilling loopback nameservers (unreachable from a container)', { dropped });
    return usable;
  }
  if (hostList.length === 0) {
    deps.logger.warn('No DNS backfilled: the host has no nameserver', { file: HOST_RESOLV_CONF });
    return [];
  }
  const upstream = parseResolvConfNameservers((await deps.readFile(SYSTEMD_RESOLVED_UPSTREAM)) ?? '');
  const behindStub = upstream.filter((server) => !isLoopbackAddress(server));
  if (behindStub.length > 0) {
    deps.logger.info('The host resolves through a local stub; backfilling the servers behind it', {
      stub: dropped,
      from: SYSTEMD_RESOLVED_UPSTREAM,
      nameservers: behindStub,
    });
    return behindStub;
  }
  deps.logger.warn('No DNS backfilled: every nameserver of the host is a loopback address a container cannot reach', {
    [HOST_RESOLV_CONF]: hostList,
    [SYSTEMD_RESOLVED_UPSTREAM]: upstream.length > 0 ? upstream : 'none',
  });
  return [];
}

/** The host part of a URL (`nats://u:p@10.0.0.1:4222` -> `10.0.0.1`), or undefined when it is not a URL. */
function urlHost(value: string): string | undefined {
  try {
    return new URL(value).hostname || undefined;
  } catch {
    return undefined;
  }
}

/** Credentials never go into a message. */
function withoutCredentials(value: string): string {
  return value.replace(/(\/\/)[^/@\s]*@/, '$1<redacted>@');
}

/**
 * Refuses agent options whose address a container cannot reach: `agent.mbus` on a loopback host (the agent
 * would dial or listen on its own loopback), loopback `agent.ntp` servers, a loopback blobstore `endpoint`.
 */
export function assertReachableAgentOptions(agent: {
  mbus: string;
  ntp: readonly string[];
  blobstore?: { options: Record<string, unknown> } | null;
}): void {
  const unreachable: string[] = [];
  const mbusHost = urlHost(agent.mbus);
  if (mbusHost !== undefined && isLoopbackAddress(mbusHost)) unreachable.push(`agent.mbus "${withoutCredentials(agent.mbus)}"`);
  agent.ntp.forEach((server, index) => {
    if (isLoopbackAddress(server)) unreachable.push(`agent.ntp[${index}] "${server}"`);
  });
  const endpoint = agent.blobstore?.options.endpoint;
  if (typeof endpoint === 'string' && isLoopbackAddress(urlHost(endpoint) ?? '')) {
    unreachable.push(`agent.blobstore.options.endpoint "${withoutCredentials(endpoint)}"`);
  }
  if (unreachable.length > 0) {
    throw new CloudError(
      `cpi.json hands the VM ${unreachable.join(', ')}: a loopback address, which a container cannot reach (use an address of the host that containers can route to, such as the job's host_ip)`,
    );
  }
}
