import type { Locks } from '../../src/host/file-lock';
import type { DiskAttachments, DiskMount } from '../../src/disks/disk-attachments';
import type { DiskImages } from '../../src/disks/disk-images';
import type { DiskSnapshots } from '../../src/disks/disk-snapshots';
import type { VmFinder, VmState } from '../../src/vms/vm-finder';
import type { GuestMounts } from '../../src/vms/guest-mounts';
import { DiskNotFound, NotSupported, VMNotFound } from '../../src/errors/cpi-errors';
import { fakeSettings } from '../disks/disk-fixture';

/** In-memory stand-ins for the disk services, recording what the actions asked for. */
export function diskFakes() {
  const calls: string[] = [];
  const disks = new Map<string, number>(); // cid -> size MiB
  const mounts = new Map<string, DiskMount[]>(); // disk -> mounts
  const vmSet = new Set<string>(); // VMs whose container Garden has
  const goneSet = new Set<string>(); // VMs whose container is gone, host state left
  const thawed: string[] = [];
  let nextId = 0;

  const images = {
    async create(sizeMb: number) {
      const cid = `disk-${(nextId += 1)}`;
      disks.set(cid, sizeMb);
      calls.push(`create ${sizeMb}`);
      return cid;
    },
    async exists(cid: string) {
      return disks.has(cid);
    },
    async sizeBytes(cid: string) {
      const size = disks.get(cid);
      return size === undefined ? undefined : size * 1024 * 1024;
    },
    async remove(cid: string) {
      calls.push(`remove ${cid}`);
      disks.delete(cid);
    },
    async grow(cid: string, sizeMb: number) {
      const size = disks.get(cid);
      if (size === undefined) throw new DiskNotFound(cid);
      if (sizeMb < size) throw new NotSupported('shrinking');
      calls.push(`grow ${cid} ${sizeMb}`);
      disks.set(cid, sizeMb);
    },
  } satisfies DiskImages;

  const attachments = {
    unmountError: undefined as Error | undefined,
    async mountsOf(cid: string) {
      return mounts.get(cid) ?? [];
    },
    async mount(vm: string, cid: string) {
      calls.push(`mount ${vm} ${cid}`);
      mounts.set(cid, [...(mounts.get(cid) ?? []), { target: `/pbm/${vm}/${cid}`, vmCid: vm }]);
    },
    async unmount(vm: string, cid: string) {
      if (attachments.unmountError) throw attachments.unmountError;
      const before = mounts.get(cid) ?? [];
      const after = before.filter((mount) => mount.vmCid !== vm);
      mounts.set(cid, after);
      const was = after.length !== before.length;
      calls.push(`unmount ${vm} ${cid} ${was}`);
      return was;
    },
    stray: new Map<string, string[]>(),
    /** The VM whose container holds a disk's stray mounts (absent: another container's). */
    strayVm: new Map<string, string>(),
    async strayMounts(cid: string): Promise<string[]> {
      return attachments.stray.get(cid) ?? [];
    },
    async deviceNumbers(cid: string) {
      return disks.has(cid) ? ['7:5'] : [];
    },
    async disksOf(vm: string) {
      return [...mounts.entries()].filter(([, list]) => list.some((mount) => mount.vmCid === vm)).map(([cid]) => cid);
    },
    async thawFrozen(cid: string) {
      calls.push(`thaw-frozen ${cid}`);
    },
    async assertReleased(cid: string) {
      calls.push(`released? ${cid}`);
    },
  } satisfies DiskAttachments & { unmountError: Error | undefined; stray: Map<string, string[]>; strayVm: Map<string, string> };

  /** Mounts inside VMs: unmounting clears the stray mounts of the disks whose container is that VM. */
  const guestMounts = {
    error: undefined as Error | undefined,
    async unmountDevices(vm: string, devices: readonly string[]) {
      calls.push(`guest-unmount ${vm} ${devices.join(',')}`);
      if (guestMounts.error) throw guestMounts.error;
      const unmounted: string[] = [];
      for (const [cid, owner] of attachments.strayVm) {
        if (owner !== vm) continue;
        unmounted.push(...(attachments.stray.get(cid) ?? []));
        attachments.stray.delete(cid);
        attachments.strayVm.delete(cid);
      }
      return unmounted;
    },
  } satisfies GuestMounts & { error: Error | undefined };

  const snapshots = {
    async take(cid: string, metadata: Record<string, unknown>, mountedAt: string | null) {
      calls.push(`snapshot ${cid} ${JSON.stringify(metadata)} ${mountedAt}`);
      return `snap-${(nextId += 1)}`;
    },
    async remove(cid: string) {
      calls.push(`remove-snapshot ${cid}`);
    },
    async thawLeftover(cid: string) {
      thawed.push(cid);
    },
  } satisfies DiskSnapshots;

  const vms = {
    async find(vm: string): Promise<VmState> {
      return vmSet.has(vm) ? 'present' : goneSet.has(vm) ? 'gone' : 'never';
    },
    async requirePresent(vm: string) {
      if (!vmSet.has(vm)) throw new VMNotFound(`VM '${vm}' not found`);
    },
  } satisfies Pick<VmFinder, 'find' | 'requirePresent'>;

  const lockNames: string[] = [];
  const locks = {
    async withLock<T>(name: string, work: () => Promise<T>) {
      lockNames.push(name);
      return work();
    },
  } satisfies Locks;

  return {
    calls,
    disks,
    mounts,
    vmSet,
    goneSet,
    thawed,
    lockNames,
    images,
    attachments,
    guestMounts,
    snapshots,
    vms,
    locks,
    settings: fakeSettings(),
    guestPath: (cid: string) => `/warden-cpi-dev/${cid}`,
  };
}
