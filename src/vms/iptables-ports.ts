import type { CommandRunner } from '../host/command-runner';
import { CommandFailed } from '../host/command-runner';
import type { Locks } from '../host/file-lock';
import type { Logger } from '../log/logger';
import { CloudError, withContext } from '../errors/cpi-errors';
import { formatPortRange, type PortMapping } from './port-mappings';

/** Host port forwarding (iptables DNAT) for the `ports` cloud property. */
export interface PortForwarding {
  forward(vmCid: string, containerIp: string, mappings: readonly PortMapping[]): Promise<void>;
  /** Removes every rule tagged with the VM's cid; nothing to remove is success. */
  removeForwarded(vmCid: string): Promise<void>;
}

export interface IptablesOptions {
  /** Attempts while iptables says "Resource temporarily unavailable" (default 60, as upstream). */
  attempts?: number;
  retryDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** Upstream's tag, so rules made by the upstream CPI are found and removed too. */
export function portRuleComment(vmCid: string): string {
  return `bosh-warden-cpi-${vmCid}`;
}

// All rule changes of all CPI processes go through one lock: iptables -w serialises single calls,
// but not a read (iptables-save) followed by deletes.
const IPTABLES_LOCK = 'iptables';

export function createIptablesPortForwarding(runner: CommandRunner, locks: Locks, logger: Logger, options: IptablesOptions = {}): PortForwarding {
  const attempts = options.attempts ?? 60;
  const delayMs = options.retryDelayMs ?? 500;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((done) => setTimeout(done, ms)));

  async function iptables(args: string[]): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await runner.run('iptables', ['-w', '-t', 'nat', ...args]);
        return;
      } catch (error) {
        const busy = error instanceof CommandFailed && error.stderr.includes('Resource temporarily unavailable');
        if (!busy || attempt >= attempts) throw error;
        await sleep(delayMs);
      }
    }
  }

  async function removeTagged(vmCid: string): Promise<void> {
    const comment = portRuleComment(vmCid);
    let saved: string;
    try {
      saved = (await runner.run('iptables-save', ['-t', 'nat'])).stdout;
    } catch (error) {
      // No iptables on this host: no rule can exist either.
      if (error instanceof CommandFailed && (error.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
        logger.debug('iptables-save not found; no port rules to remove', { vm: vmCid });
        return;
      }
      throw error;
    }
    const rules = saved.split('\n').filter((line) => line.startsWith('-A ') && line.split(' ').includes(comment));
    let failure: unknown;
    for (const rule of rules) {
      try {
        await iptables(['-D', ...rule.split(' ').slice(1)]);
      } catch (error) {
        // Already gone (a concurrent delete): fine.
        if (error instanceof CommandFailed && /No chain\/target\/match|does a matching rule exist/i.test(error.stderr)) continue;
        failure = error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  return {
    async forward(vmCid, containerIp, mappings) {
      if (mappings.length === 0) return;
      await withContext(`Forwarding host ports to '${containerIp}'`, () =>
        locks.withLock(IPTABLES_LOCK, async () => {
          for (const mapping of mappings) {
            const rule = [
              'PREROUTING',
              '-p',
              mapping.protocol,
              // Traffic from Garden's own interfaces (w+) is not redirected, as upstream.
              '!',
              '-i',
              'w+',
              '--dport',
              formatPortRange(mapping.host, ':'),
              '-j',
              'DNAT',
              '--to',
              `${containerIp}:${formatPortRange(mapping.container, '-')}`,
              '-m',
              'comment',
              '--comment',
              portRuleComment(vmCid),
            ];
            try {
              await iptables(['-A', ...rule]);
            } catch (error) {
              await removeTagged(vmCid).catch((cleanup: unknown) => logger.warn('Removing port rules failed', { error: String(cleanup) }));
              throw new CloudError(`Forwarding host port(s) '${formatPortRange(mapping.host, ':')}': ${(error as Error).message}`, { cause: error });
            }
          }
        }),
      );
    },

    async removeForwarded(vmCid) {
      await withContext(`Removing port forwarding rules of VM '${vmCid}'`, () => locks.withLock(IPTABLES_LOCK, () => removeTagged(vmCid)));
    },
  };
}
