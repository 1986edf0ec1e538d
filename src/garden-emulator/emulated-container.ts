import { randomInt } from 'node:crypto';
import type { ExecSandbox } from './exec-sandbox';
import type { FileRoots } from './file-streaming';
import { sortedMap } from './go-json';
import type { NetworkLease } from './network-pool';
import type { LaunchedProcess } from './process-launcher';
import type { ProcessStream } from './process-streams';
import type { BindMountJson, ContainerSpecJson, ProcessSpecJson } from './wire-types';

/** What the rootfs `image.uri` (or legacy `rootfs`) named, and where the container's files are kept. */
export interface RootfsInfo {
  uri: string;
  kind: 'directory' | 'tar' | 'docker' | 'raw' | 'default';
  /** The image directory reads fall back to (directory and raw kinds). */
  imageDir?: string;
  /** Per-container dir holding what was written (raw: the image dir itself). */
  upperDir: string;
  /** Host path of the container's root as the container sees it (exec: through /proc; scripted: upperDir). */
  viewDir: string;
}

export interface EmulatedProcess {
  id: string;
  handle: string;
  /** The ProcessSpec JSON as received. */
  spec: unknown;
  parsedSpec: ProcessSpecJson;
  streams: ProcessStream[];
  state: 'running' | 'exited';
  exitStatus?: number;
  error?: string;
  /** Everything written to its stdin through the control connection. */
  stdin: string;
  startedAt: number;
  launched: LaunchedProcess;
  done: Promise<void>;
}

export interface EmulatedContainer {
  handle: string;
  /** Internal directory name under <stateDir>/containers (handles are not path-safe). */
  dir: string;
  /** The ContainerSpec JSON as received. */
  spec: unknown;
  parsedSpec: ContainerSpecJson;
  properties: Map<string, string>;
  network: NetworkLease;
  bindMounts: BindMountJson[];
  rootfs: RootfsInfo;
  files: FileRoots;
  sandbox?: ExecSandbox;
  processes: Map<string, EmulatedProcess>;
  mappedPorts: { HostPort: number; ContainerPort: number }[];
  stopped: boolean;
  destroying: boolean;
  createdAt: number;
}

/** gdn reports the host's external IP even without an external network; the captures show this one. */
export const EXTERNAL_IP = '192.0.2.2';

/**
 * kawasaki's per-container instance id: 11 base-32 digits of a counter seeded with the start time in ns
 * (gdn's is sequential too, so ids of one server differ only in their last digits).
 */
export class InstanceIds {
  private next = BigInt(Date.now()) * 1_000_000n + BigInt(randomInt(1_000_000));

  generate(): string {
    this.next += 1n;
    let id = '';
    for (let digit = 1; digit <= 11; digit += 1) id += Number((this.next >> BigInt(55 - digit * 5)) & 31n).toString(32);
    return id;
  }
}

/**
 * The properties gdn's networker adds (GU `kawasaki/networker.go`). `tag` is gdn's `--tag`: interfaces and
 * bridges are named `w<tag>…`, iptables chains `w-<tag>-…` (the captures came from a gdn without a tag).
 */
export function networkProperties(lease: NetworkLease, instance: string, tag = ''): [string, string][] {
  const network = lease.subnet.split('/')[0] ?? '';
  const bridge = network
    .split('.')
    .map((part) => Number(part).toString(16).padStart(2, '0'))
    .join('');
  return [
    ['garden.network.container-ip', lease.containerIp],
    ['garden.network.host-ip', lease.hostIp],
    ['garden.network.external-ip', EXTERNAL_IP],
    ['kawasaki.bridge-interface', `w${tag}brdg-${bridge}`],
    ['kawasaki.container-interface', `w${tag}${instance}-1`],
    ['kawasaki.host-interface', `w${tag}${instance}-0`],
    ['kawasaki.dns-servers', ''],
    ['kawasaki.host-entries', ''],
    ['kawasaki.iptable-inst', instance],
    ['kawasaki.iptable-prefix', `w-${tag}-`],
    ['kawasaki.mtu', '1400'],
    ['kawasaki.subnet', lease.subnet],
  ];
}

/** ContainerInfo, key order as Go's struct declares it. */
export function containerInfo(container: EmulatedContainer, containerPath: string): Record<string, unknown> {
  return {
    State: container.stopped ? 'stopped' : 'active',
    Events: null,
    HostIP: container.network.hostIp,
    ContainerIP: container.network.containerIp,
    ContainerIPv6: '',
    ExternalIP: EXTERNAL_IP,
    ContainerPath: containerPath,
    ProcessIDs: null,
    Properties: sortedMap(container.properties),
    MappedPorts: container.mappedPorts,
  };
}

/** The zero ContainerInfo Go sends beside an error in bulk_info. */
export const EMPTY_INFO = {
  State: '',
  Events: null,
  HostIP: '',
  ContainerIP: '',
  ContainerIPv6: '',
  ExternalIP: '',
  ContainerPath: '',
  ProcessIDs: null,
  Properties: null,
  MappedPorts: null,
};

/** Metrics with Go's field order; the emulator measures nothing, so usage is zero. */
export function containerMetrics(container: EmulatedContainer | undefined): Record<string, unknown> {
  const running = container ? [...container.processes.values()].filter((process) => process.state === 'running').length : 0;
  return {
    MemoryStat: {
      active_anon: 0,
      active_file: 0,
      cache: 0,
      inactive_anon: 0,
      inactive_file: 0,
      rss: 0,
      swap: 0,
      total_active_anon: 0,
      total_active_file: 0,
      total_cache: 0,
      total_inactive_anon: 0,
      total_inactive_file: 0,
      total_rss: 0,
      total_swap: 0,
      anon: 0,
      file: 0,
      swapcached: 0,
      TotalUsageTowardLimit: 0,
    },
    CPUStat: { Usage: 0, User: 0, System: 0 },
    DiskStat: { TotalBytesUsed: 0, TotalInodesUsed: 0, ExclusiveBytesUsed: 0, ExclusiveInodesUsed: 0 },
    NetworkStat: null,
    PidStat: { Current: running, Max: 0 },
    Age: container ? (Date.now() - container.createdAt) * 1_000_000 : 0,
    CPUEntitlement: 0,
  };
}
