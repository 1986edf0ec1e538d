import type { InitSystem } from '../stemcells/stemcell-init';

export type { InitSystem };

/** The ProcessSpec fields the CPI sends for its one detached start process. */
export interface StartProcess {
  path: string;
  args: string[];
  user: string;
}

// Upstream's runit preparation, folded into one script so it costs one detached process run.
// Garden bind-mounts its own resolv.conf, hosts and hostname, which the agent must be able to rewrite.
const RUNIT_PREPARE = ['umount /etc/resolv.conf 2>/dev/null', 'umount /etc/hosts 2>/dev/null', 'umount /etc/hostname 2>/dev/null'];
const RUNIT_FRESH_SYS = ['rm -rf /var/vcap/data/sys', 'mkdir -p /var/vcap/data/sys'];
const RUNIT_START = [
  // chronyd cannot set the clock in a container; upstream disables the agent's chronyc call.
  "[ -f /var/vcap/bosh/bin/sync-time ] && sed -i 's/chronyc/# chronyc/g' /var/vcap/bosh/bin/sync-time",
  // A clean environment, as a booting VM's runit would have; runsvdir starts the agent.
  'exec env -i /usr/sbin/runsvdir-start',
];

/**
 * The one detached process that starts the agent. runit: the preparation above then runsvdir.
 * systemd (PID 1 already, it starts the agent itself): only release /etc/hosts, as upstream.
 * On reboot systemd's stopped units are started again by isolating the default target.
 */
export function agentStartProcess(init: InitSystem, options: { reboot: boolean }): StartProcess {
  const lines =
    init === 'systemd'
      ? ['umount /etc/hosts 2>/dev/null', ...(options.reboot ? ['exec systemctl isolate default.target'] : [])]
      : [...RUNIT_PREPARE, ...(options.reboot ? ['mkdir -p /var/vcap/data/sys'] : RUNIT_FRESH_SYS), ...RUNIT_START];
  return { path: '/bin/sh', args: ['-c', lines.join('\n')], user: 'root' };
}
