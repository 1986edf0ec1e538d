import { spawn } from 'node:child_process';
import { lstat, mkdir } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { posix } from 'node:path';
import { serverError } from './garden-error';
import { chunkFrame, streamHead } from './http-wire';

/** Where a container's files live on the host: writes go to `write`, reads try `read` in order. */
export interface FileRoots {
  write: string;
  read: string[];
}

/** `path` inside the container, resolved under `root`; `..` cannot climb out of the root. */
export function containerPath(root: string, path: string): string {
  return posix.join(root, posix.normalize(`/${path}`));
}

function runTar(args: string[], input?: Buffer): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('tar', args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

/**
 * gdn's StreamIn (nstar): `destination` is a directory, created if missing; the body is an uncompressed
 * tar extracted into it with `tar --no-same-permissions --no-same-owner -xf -`.
 */
export async function streamIn(roots: FileRoots, destination: string, tarBytes: Buffer): Promise<void> {
  const target = containerPath(roots.write, destination);
  await mkdir(target, { recursive: true, mode: 0o755 });
  const result = await runTar(['--no-same-permissions', '--no-same-owner', '-xf', '-', '-C', target], tarBytes);
  if (result.code !== 0) {
    throw serverError(`stream-in: nstar: error streaming in: exit status ${String(result.code)}. Output: ${result.stderr}`);
  }
}

const EMPTY_TAR_CHUNKS = [Buffer.alloc(0x200), Buffer.alloc(0x2600)];

/**
 * gdn's StreamOut: `tar -cf - basename(S)` in dirname(S), or `tar -cf - .` inside S when S ends in `/`.
 * A missing source still answers 200, with an empty 10240-byte tar, exactly as captured.
 */
export async function streamOut(socket: Socket, roots: FileRoots, source: string, close: boolean): Promise<void> {
  let layer: string | undefined;
  for (const root of roots.read) {
    if (
      await lstat(containerPath(root, source)).then(
        () => true,
        () => false,
      )
    ) {
      layer = root;
      break;
    }
  }
  socket.write(streamHead(200, 'application/octet-stream', close));
  const finish = (): void => {
    socket.write('0\r\n\r\n');
    if (close) socket.end();
  };
  if (layer === undefined) {
    for (const chunk of EMPTY_TAR_CHUNKS) socket.write(chunkFrame(chunk));
    finish();
    return;
  }
  const hostPath = containerPath(layer, source);
  const args = source.endsWith('/') ? ['-cf', '-', '-C', hostPath, '.'] : ['-cf', '-', '-C', posix.dirname(hostPath), posix.basename(hostPath)];
  await new Promise<void>((resolve) => {
    const child = spawn('tar', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (chunk: Buffer) => socket.write(chunkFrame(chunk)));
    // As gdn: a tar failure after the head is only visible as a short (or empty) body.
    child.on('error', () => resolve());
    child.on('close', () => resolve());
  });
  finish();
}
