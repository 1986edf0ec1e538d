import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from '../log/logger';
import { createExecSandbox, type ExecSandbox } from './exec-sandbox';
import type { EmulatedContainer, RootfsInfo } from './emulated-container';
import { InstanceIds, networkProperties } from './emulated-container';
import type { FileRoots } from './file-streaming';
import { containerNotFound, GardenApiError, serverError } from './garden-error';
import { parseWith } from './json-body';
import type { NetworkLease, NetworkPool } from './network-pool';
import { containerSpecJson, type BindMountJson, type ContainerSpecJson } from './wire-types';

const execFileAsync = promisify(execFile);

export type ProcessMode = 'scripted' | 'exec';

const exists = (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/** Containers, with gdn's create/destroy/stop semantics and complete rollback of a failed create. */
export class ContainerStore {
  private readonly containers = new Map<string, EmulatedContainer>();
  /** Handles being created right now: a second create of the same handle must fail, as in gdn. */
  private readonly reserved = new Set<string>();
  private readonly reapers = new Map<string, NodeJS.Timeout>();
  /**
   * Properties by handle, apart from the containers (gdn's property manager): setting one on an unknown handle
   * works and is kept; a create adds to what is there; a destroy (or a failed create) drops the handle's set.
   */
  private readonly keyspaces = new Map<string, Map<string, string>>();
  private readonly instanceIds = new InstanceIds();
  private nextDir = 1;

  constructor(
    private readonly options: {
      stateDir: string;
      processMode: ProcessMode;
      /** gdn's `--tag` (names of interfaces, bridges and chains). */
      tag?: string;
      network: NetworkPool;
      logger: Logger;
      /** Kills and forgets a container's processes (owned by the process routes). */
      endProcesses: (container: EmulatedContainer, signal: 'SIGTERM' | 'SIGKILL') => Promise<void>;
    },
  ) {}

  get(handle: string): EmulatedContainer | undefined {
    return this.containers.get(handle);
  }

  handles(): string[] {
    return [...this.containers.keys()];
  }

  /** The handle's properties, container or not (undefined: never set, or dropped by a destroy). */
  propertiesOf(handle: string): Map<string, string> | undefined {
    return this.keyspaces.get(handle);
  }

  /** The handle's properties, made empty if there are none yet (gdn's Set on any handle). */
  propertiesFor(handle: string): Map<string, string> {
    let properties = this.keyspaces.get(handle);
    if (properties === undefined) {
      properties = new Map();
      this.keyspaces.set(handle, properties);
    }
    return properties;
  }

  containerPath(container: EmulatedContainer): string {
    return join(this.options.stateDir, 'containers', container.dir);
  }

  /** GET /containers: exact-match property filters, `garden.state=created` unless given (`all` drops it). */
  list(filters: URLSearchParams): string[] {
    const wanted = new Map<string, string>();
    for (const key of new Set(filters.keys())) wanted.set(key, filters.get(key) ?? '');
    if (!wanted.has('garden.state')) wanted.set('garden.state', 'created');
    if (wanted.get('garden.state') === 'all') wanted.delete('garden.state');
    return [...this.containers.values()]
      .filter((container) => !container.destroying)
      .filter((container) => [...wanted].every(([key, value]) => container.properties.get(key) === value))
      .map((container) => container.handle);
  }

  async create(body: unknown): Promise<string> {
    const spec = parseWith(containerSpecJson, body);
    const handle = spec.handle === undefined || spec.handle === '' ? randomUUID() : spec.handle;
    if (this.containers.has(handle) || this.reserved.has(handle)) throw serverError(`Handle '${handle}' already in use`);
    this.reserved.add(handle);
    // gdn drops the handle's properties on any failure after the duplicate check, earlier ones included.
    const undo: (() => Promise<void>)[] = [async () => void this.keyspaces.delete(handle)];
    try {
      const container = await this.build(handle, spec, body, undo);
      this.containers.set(handle, container);
      this.touch(handle);
      return handle;
    } catch (error) {
      for (const step of undo.reverse()) {
        await step().catch((cause: unknown) => this.options.logger.warn('create rollback step failed', { handle, cause: String(cause) }));
      }
      throw error;
    } finally {
      this.reserved.delete(handle);
    }
  }

  private async build(handle: string, spec: ContainerSpecJson, body: unknown, undo: (() => Promise<void>)[]): Promise<EmulatedContainer> {
    const imageUri = spec.image?.uri ?? '';
    const legacyRootfs = spec.rootfs ?? '';
    if (imageUri !== '' && legacyRootfs !== '') throw serverError('Cannot provide both Image.URI and RootFSPath');
    const uri = imageUri !== '' ? imageUri : legacyRootfs;
    const kind = await this.rootfsKind(uri);
    const bindMounts = spec.bind_mounts ?? [];
    for (const mount of bindMounts) await this.checkBindSource(mount);

    const lease: NetworkLease = this.options.network.acquire(spec.network ?? '');
    undo.push(async () => this.options.network.release(lease));

    const dir = `c${this.nextDir++}`;
    const containerDir = join(this.options.stateDir, 'containers', dir);
    await mkdir(containerDir, { recursive: true });
    undo.push(() => rm(containerDir, { recursive: true, force: true }));
    const upperDir = join(containerDir, 'upper');
    await mkdir(upperDir);

    const rawPath = kind === 'raw' ? rawRootPath(uri) : undefined;
    let imageDir = kind === 'directory' ? uri : rawPath;
    let sandbox: ExecSandbox | undefined;
    if (this.options.processMode === 'exec') {
      if (kind === 'tar') {
        imageDir = join(containerDir, 'image');
        await mkdir(imageDir);
        await execFileAsync('tar', ['-xf', uri, '-C', imageDir]).catch((error: unknown) => {
          throw serverError(`extracting rootfs ${uri}: ${String(error)}`);
        });
      }
      if (imageDir === undefined) throw serverError(`exec mode needs a directory or tar rootfs, got '${uri}'`);
      const viewDir = join(containerDir, 'rootfs');
      const workDir = join(containerDir, 'work');
      await mkdir(viewDir);
      await mkdir(workDir);
      sandbox = await createExecSandbox({
        lowerDir: imageDir,
        // gdn uses a raw:// root as the container's root itself: writes land in it.
        upperDir: rawPath === undefined ? upperDir : '',
        workDir: rawPath === undefined ? workDir : '',
        viewDir,
        hostname: handle,
        bindMounts: bindMounts.map((mount) => ({ srcPath: mount.src_path, dstPath: mount.dst_path, readOnly: mount.mode !== 1 })),
        logger: this.options.logger,
      }).catch((error: unknown) => {
        throw serverError(`runc run: ${error instanceof Error ? error.message : String(error)}`);
      });
      const started = sandbox;
      undo.push(() => started.destroy());
    }
    const rootfs: RootfsInfo = {
      uri,
      kind,
      ...(imageDir === undefined ? {} : { imageDir }),
      upperDir: rawPath ?? upperDir,
      viewDir: sandbox?.hostRootPath ?? rawPath ?? upperDir,
    };
    const files: FileRoots = sandbox
      ? { write: sandbox.hostRootPath, read: [sandbox.hostRootPath] }
      : rawPath !== undefined
        ? { write: rawPath, read: [rawPath] }
        : { write: upperDir, read: kind === 'directory' ? [upperDir, uri] : [upperDir] };

    const properties = this.propertiesFor(handle);
    for (const [key, value] of Object.entries(spec.properties ?? {})) properties.set(key, value);
    for (const [key, value] of networkProperties(lease, this.instanceIds.generate(), this.options.tag)) properties.set(key, value);
    if (spec.grace_time !== undefined && spec.grace_time !== 0) properties.set('garden.grace-time', String(spec.grace_time));
    properties.set('garden.state', 'created');
    return {
      handle,
      dir,
      spec: body,
      parsedSpec: spec,
      properties,
      network: lease,
      bindMounts,
      rootfs,
      files,
      ...(sandbox ? { sandbox } : {}),
      processes: new Map(),
      mappedPorts: [],
      stopped: false,
      destroying: false,
      createdAt: Date.now(),
    };
  }

  private async rootfsKind(uri: string): Promise<RootfsInfo['kind']> {
    if (uri === '') return 'default';
    if (uri.startsWith('raw://')) {
      const path = rawRootPath(uri);
      // gdn hands a raw:// root to runc as it is; runc checks it first (measured against gdn).
      if (!(await exists(path)))
        throw serverError(`runc run: exit status 1: runc run failed: invalid rootfs: stat ${path}: no such file or directory`);
      return 'raw';
    }
    if (uri.startsWith('docker://') || uri.startsWith('preloaded+layer:')) return 'docker';
    const info = await stat(uri).catch(() => undefined);
    if (info === undefined) throw serverError(`making image: creating image: stat ${uri}: no such file or directory`);
    return info.isDirectory() ? 'directory' : 'tar';
  }

  /** runc fails the create when a bind-mount source is missing; the captured message. */
  private async checkBindSource(mount: BindMountJson): Promise<void> {
    if (await exists(mount.src_path)) return;
    throw serverError(
      'runc run: exit status 1: runc run failed: unable to start container process: error during container init: ' +
        `error mounting "${mount.src_path}" to rootfs at "${mount.dst_path}": stat ${mount.src_path}: no such file or directory`,
    );
  }

  async destroy(handle: string): Promise<void> {
    const container = this.containers.get(handle);
    if (container === undefined) throw containerNotFound(handle);
    if (container.destroying) throw serverError('container already being destroyed');
    container.destroying = true;
    this.clearReaper(handle);
    try {
      // In parallel: a killed process's pipes may be held open by daemons only the namespace kill reaches.
      await Promise.all([this.options.endProcesses(container, 'SIGKILL'), container.sandbox?.destroy()]);
      this.options.network.release(container.network);
      await rm(this.containerPath(container), { recursive: true, force: true });
    } finally {
      this.containers.delete(handle);
      this.keyspaces.delete(handle);
    }
  }

  /** Stop: every process but init is signalled (kill: SIGKILL, else SIGTERM then SIGKILL after 10 s). */
  async stop(handle: string, kill: boolean): Promise<void> {
    const container = this.containers.get(handle);
    // gdn asks runc for the init pid first; runc's answer for an unknown container ends up in the message.
    if (container === undefined) throw serverError('stop: pid not found for container: runc state: runc: exit status 1: container does not exist');
    await container.sandbox?.signalProcesses(kill ? 'SIGKILL' : 'SIGTERM');
    await this.options.endProcesses(container, kill ? 'SIGKILL' : 'SIGTERM');
    container.stopped = true;
    container.properties.set('rundmc.state', 'stopped');
  }

  /** Bomberman: a container with a grace time is destroyed after that long without API calls for it. */
  touch(handle: string): void {
    const container = this.containers.get(handle);
    const graceNs = Number(container?.properties.get('garden.grace-time') ?? '0');
    this.clearReaper(handle);
    if (!container || !(graceNs > 0)) return;
    const timer = setTimeout(
      () => {
        this.reapers.delete(handle);
        this.options.logger.info('reaping idle container', { handle });
        this.destroy(handle).catch(() => undefined);
      },
      Math.ceil(graceNs / 1_000_000),
    );
    timer.unref();
    this.reapers.set(handle, timer);
  }

  private clearReaper(handle: string): void {
    const timer = this.reapers.get(handle);
    if (timer) clearTimeout(timer);
    this.reapers.delete(handle);
  }

  async destroyAll(): Promise<void> {
    for (const handle of [...this.containers.keys()]) {
      await this.destroy(handle).catch((error: unknown) => {
        if (!(error instanceof GardenApiError)) throw error;
      });
    }
  }
}

/** The root dir of a `raw://` image URI: its path, percent-decoded as Go's url.Parse does. */
function rawRootPath(uri: string): string {
  return decodeURIComponent(new URL(uri).pathname);
}
