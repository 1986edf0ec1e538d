import { randomUUID } from 'node:crypto';
import type { CommandRunner } from '../host/command-runner';
import type { HostMounts } from '../host/mounts';
import type { Logger } from '../log/logger';
import { createDiskAttachments, type DiskAttachments } from './disk-attachments';
import { createDiskImages, type DiskImages } from './disk-images';
import { createDiskMetadataStore, type DiskMetadataStore } from './disk-metadata-store';
import { diskGuestPath, type DisksConfig } from './disk-paths';
import { createDiskSnapshots, type DiskSnapshots } from './disk-snapshots';

/** The disk services every disk action draws its deps from. */
export interface DiskServices {
  images: DiskImages;
  attachments: DiskAttachments;
  snapshots: DiskSnapshots;
  metadata: DiskMetadataStore;
  guestPath: (diskCid: string) => string;
}

export interface DiskServicesDeps {
  config: DisksConfig;
  runner: CommandRunner;
  mounts: HostMounts;
  logger: Logger;
  newId?: () => string;
  mkfsExtendedOptions?: string | null;
}

export function createDiskServices(deps: DiskServicesDeps): DiskServices {
  const newId = deps.newId ?? randomUUID;
  const { config, runner, logger } = deps;
  return {
    images: createDiskImages({ config, runner, newId, logger, mkfsExtendedOptions: deps.mkfsExtendedOptions }),
    attachments: createDiskAttachments({ config, mounts: deps.mounts, runner, logger }),
    snapshots: createDiskSnapshots({ config, runner, newId, logger }),
    metadata: createDiskMetadataStore(config, logger),
    guestPath: (diskCid) => diskGuestPath(config, diskCid),
  };
}
