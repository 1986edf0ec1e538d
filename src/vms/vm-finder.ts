import { stat } from 'node:fs/promises';
import { VMNotFound } from '../errors/cpi-errors';
import { GardenContainerNotFound, GardenError, type GardenClient } from '../garden/garden-client';
import { assertPlainId } from '../ids/plain-id';
import { vmHostPaths, type VmDirsConfig } from './vm-paths';

/**
 * Where a VM stands. Garden alone decides whether it exists; the CPI's host state only says whether
 * something is left to clean (docs/vm-existence.md has what every method answers in each state).
 *
 * - `present`: Garden has the container (whatever the host state: VMs of the upstream CPI have none).
 * - `gone`: no container, but host state is left: `<state_dir>/vms/<vm>` or the VM's host bind-mount dirs
 *   (a host or Garden restart, a create_vm or delete_vm cut short). Clean-up calls clean it and succeed.
 * - `never`: no container and no host state: an unknown cid, or a VM deleted completely.
 */
export type VmState = 'present' | 'gone' | 'never';

/** What a Garden call on a VM's container came to: its value, or Garden saying there is no such container. */
export type ContainerOutcome<T> = { found: true; value: T } | { found: false };

/**
 * The one place that decides whether a VM exists, and the one place that reads Garden's "no such
 * container" answers. Garden errors of any other kind (unreachable, 500) are rethrown: the CPI cannot
 * tell, so it says so rather than guess.
 */
export interface VmFinder {
  /**
   * One Garden request (the list of handles) plus stats of the VM's host dirs. Not the container's info:
   * gdn answers the list from memory (1.2 ms on real gdn, curl median) but runs the OCI runtime for info
   * (31 ms), and has_vm, set_vm_metadata, attach_disk and detach_disk ask.
   */
  find(vmCid: string): Promise<VmState>;
  /** find, then VMNotFound (naming the state) unless the container is present. */
  requirePresent(vmCid: string): Promise<void>;
  /** Runs one Garden call on the VM's container; Garden having no such container is VMNotFound. */
  onContainer<T>(vmCid: string, call: () => Promise<T>): Promise<T>;
  /** Runs one Garden call on the VM's container; Garden having no such container is `{ found: false }`. */
  tryContainer<T>(vmCid: string, call: () => Promise<T>): Promise<ContainerOutcome<T>>;
}

export interface VmFinderDeps {
  garden: Pick<GardenClient, 'list'>;
  dirs: VmDirsConfig;
}

/**
 * Garden's ways of saying a container does not exist: ContainerNotFoundError (info, destroy, limits/cpu and
 * memory), and plain 500s from routes that look the container up another way (gdn: stop and file streaming
 * "pid not found for container", run in containerd mode "container <h> not found", older "unknown handle").
 * Routes that answer 200 for an unknown handle (set property) cannot tell: ask `find` first.
 */
export function isMissingContainer(error: unknown): boolean {
  return (
    error instanceof GardenContainerNotFound ||
    (error instanceof GardenError && /pid not found|unknown handle|container \S+ not found/i.test(error.message))
  );
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export function createVmFinder(deps: VmFinderDeps): VmFinder {
  async function tryContainer<T>(vmCid: string, call: () => Promise<T>): Promise<ContainerOutcome<T>> {
    assertPlainId('VM', vmCid);
    try {
      return { found: true, value: await call() };
    } catch (error) {
      if (isMissingContainer(error)) return { found: false };
      throw error;
    }
  }

  async function hostStateLeft(vmCid: string): Promise<boolean> {
    assertPlainId('VM', vmCid);
    const paths = vmHostPaths(deps.dirs, vmCid);
    const found = await Promise.all([paths.stateDir, paths.ephemeralDir, paths.persistentDir].map(exists));
    return found.includes(true);
  }

  async function find(vmCid: string): Promise<VmState> {
    assertPlainId('VM', vmCid);
    const [handles, leftovers] = await Promise.all([deps.garden.list(), hostStateLeft(vmCid)]);
    if (handles.includes(vmCid)) return 'present';
    return leftovers ? 'gone' : 'never';
  }

  function notFound(vmCid: string, state: Exclude<VmState, 'present'>, cause?: unknown): VMNotFound {
    const why = state === 'gone' ? `Garden has no container '${vmCid}' (its host state is left for delete_vm)` : 'no such VM';
    return new VMNotFound(`VM '${vmCid}' not found: ${why}`, cause === undefined ? {} : { cause });
  }

  return {
    find,

    async requirePresent(vmCid) {
      const state = await find(vmCid);
      if (state !== 'present') throw notFound(vmCid, state);
    },

    async onContainer(vmCid, call) {
      const outcome = await tryContainer(vmCid, call);
      if (outcome.found) return outcome.value;
      throw notFound(vmCid, (await hostStateLeft(vmCid)) ? 'gone' : 'never');
    },

    tryContainer,
  };
}
