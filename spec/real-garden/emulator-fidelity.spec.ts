// Holds the in-repo Garden emulator to a real gdn: every route the CPI uses (and its error cases) is sent,
// byte for byte the same, to both servers, and the answers are compared after normalising what is volatile
// (normalise() says why each part is). Real-Garden pass only (GARDEN_UNDER_TEST=real); exec mode needs root.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { extract } from 'tar-stream';
import { startGardenEmulator, type GardenEmulator } from '../../src/garden-emulator/garden-emulator';
import { busyboxRootfs, execModeUnavailable } from '../../testkit/rootfs';
import { tarOf } from '../garden-emulator/raw-client';
import { gardenUnderTest } from '../../testkit/garden-under-test';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const garden = gardenUnderTest();
const skip = garden.kind !== 'real' ? 'runs only against a real gdn (npm run test:real-garden)' : execModeUnavailable();

/** FIDELITY_TRACE=1 prints gdn's (normalised) answers, to see what is being compared. */
function trace(what: string, answer: unknown): void {
  if (process.env.FIDELITY_TRACE === '1') console.log(`${what}\n${JSON.stringify(answer, null, 1)}`);
}

/** One server under comparison. `dir` holds its inputs; both dirs have the same length (see SIDE_NAMES). */
interface Side {
  name: 'gdn' | 'emulator';
  address: { network: 'tcp' | 'unix'; address: string };
  dir: string;
}

// Same-length names, so paths in bodies (and so Content-Length) match before normalising.
const SIDE_NAMES = { gdn: 'real', emulator: 'emul' } as const;

// Unique per run: other suites may share this gdn. The owner property scopes the list filters to us.
const RUN_ID = `fidelity-${process.pid}`;
const HANDLE = `${RUN_ID}-vm`;
const BAD_HANDLE = `${RUN_ID}-badmount`;
const DYNAMIC_HANDLE = `${RUN_ID}-dynamic`;
const UNKNOWN = `${RUN_ID}-nosuch`;
const OWNER = `garden-cpi-${process.pid}`;

function connectTo(address: Side['address']): Socket {
  if (address.network === 'unix') return connect(address.address);
  const colon = address.address.lastIndexOf(':');
  return connect(Number(address.address.slice(colon + 1)), address.address.slice(0, colon));
}

/** Sends `bytes` on a fresh connection and returns everything until the server closes it. */
function exchange(side: Side, bytes: Buffer | string, timeoutMs = 60_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connectTo(side.address);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new Error(`${side.name}: no close within ${timeoutMs} ms; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 300))}`),
      );
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    socket.write(bytes);
  });
}

/**
 * A request as the CPI's JSON transport sends it (axios on node:http without keep-alive, so one request
 * per connection with `Connection: close`); a tar upload is streamed, hence chunked.
 */
function cpiRequest(side: Side, method: string, target: string, body?: { json: unknown } | { tar: Buffer }): Buffer {
  const lines = [`${method} ${target} HTTP/1.1`, 'Accept: application/json, text/plain, */*'];
  let payload = Buffer.alloc(0);
  if (body !== undefined && 'json' in body) {
    payload = Buffer.from(JSON.stringify(body.json));
    lines.push('Content-Type: application/json', 'User-Agent: axios/1.21.1', `Content-Length: ${payload.length}`);
  } else if (body !== undefined) {
    lines.push('Content-Type: application/x-tar', 'User-Agent: axios/1.21.1');
  } else {
    lines.push('User-Agent: axios/1.21.1');
  }
  lines.push('Accept-Encoding: gzip, compress, deflate, br', `Host: ${side.address.address}`, 'Connection: close');
  if (body !== undefined && 'tar' in body) {
    lines.push('Transfer-Encoding: chunked');
    payload = Buffer.concat([Buffer.from(`${body.tar.length.toString(16)}\r\n`), body.tar, Buffer.from('\r\n0\r\n\r\n')]);
  }
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), payload]);
}

/** A request as the CPI's hijacked-request.ts writes it for the process routes (no Connection header). */
function processRequest(method: 'GET' | 'POST', path: string, body?: string): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: api', 'User-Agent: garden-cpi'];
  if (body !== undefined) lines.push('Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body ?? ''}`;
}

interface HttpView {
  statusLine: string;
  /** Header lines in order, values of volatile ones replaced (see normaliseHead). */
  headers: string[];
  body: string;
}

/** Splits a complete response (Content-Length, chunked, or up to close), checking its framing on the way. */
function splitResponse(side: Side, raw: Buffer): { statusLine: string; headers: [string, string][]; body: Buffer; chunkSizes?: number[] } {
  const headEnd = raw.indexOf('\r\n\r\n');
  assert.ok(headEnd >= 0, `${side.name}: no response head in ${JSON.stringify(raw.toString('latin1').slice(0, 300))}`);
  const [statusLine = '', ...lines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  const headers = headerPairs(lines);
  const find = (name: string) => headers.find(([key]) => key.toLowerCase() === name)?.[1];
  let rest = raw.subarray(headEnd + 4);
  let body: Buffer;
  let chunkSizes: number[] | undefined;
  if (find('transfer-encoding') === 'chunked') {
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = rest.indexOf('\r\n');
      assert.ok(lineEnd > 0, `${side.name}: chunked body ends without its last chunk`);
      const size = Number.parseInt(rest.subarray(0, lineEnd).toString('latin1'), 16);
      if (size === 0) {
        assert.equal(rest.subarray(lineEnd).toString('latin1'), '\r\n\r\n', `${side.name}: bytes after the last chunk`);
        break;
      }
      parts.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      assert.equal(rest.subarray(lineEnd + 2 + size, lineEnd + 4 + size).toString('latin1'), '\r\n', `${side.name}: chunk not CRLF-terminated`);
      rest = rest.subarray(lineEnd + 4 + size);
    }
    body = Buffer.concat(parts);
    chunkSizes = parts.map((part) => part.length);
  } else {
    const length = find('content-length');
    if (length !== undefined) assert.equal(rest.length, Number(length), `${side.name}: Content-Length ${length} but ${rest.length} body bytes`);
    body = rest;
  }
  return { statusLine, headers, body, ...(chunkSizes === undefined ? {} : { chunkSizes }) };
}

/**
 * Everything that legitimately differs between the two servers, replaced by a placeholder (in heads,
 * JSON bodies, process frames and error messages alike):
 * - `Date`: the time of the answer.
 * - `Content-Length`: its value once checked against the body (splitResponse); bodies are compared after
 *   normalising, and a normalised part may differ in length (the container path, a stream id).
 * - each side's input dir: the servers get their own copies of the rootfs and bind-mount sources (same
 *   length by construction, so unnormalised lengths still agree).
 * - `ContainerPath`: gdn's depot dir vs. the emulator's state dir.
 * - kawasaki's per-container instance id (`kawasaki.iptable-inst`, the interface names built from it): random.
 * - process ids gdn generates (a UUID when the spec has none): random.
 * - stream ids: a server-wide counter, and other suites share this gdn.
 * - a dynamic network's addresses: its /30 comes from the pool, which other suites' containers share; how
 *   the addresses relate (gateway network+1, container network+2, bridge named by the network) is kept.
 */
function normalise(side: Side, text: string): string {
  let out = text.replaceAll(side.dir, '<dir>');
  const pooled = /"kawasaki\.subnet":"(\d+)\.(\d+)\.(\d+)\.(\d+)\/30"/.exec(out);
  if (pooled !== null) {
    const network = pooled.slice(1, 5).reduce((value, octet) => value * 256 + Number(octet), 0);
    const ip = (value: number) => [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
    for (const offset of [0, 1, 2])
      out = out.replace(new RegExp(`(?<![\\d.])${ip(network + offset).replaceAll('.', '\\.')}(?![\\d.])`, 'g'), `<pool-net+${offset}>`);
    out = out.replaceAll(`brdg-${network.toString(16).padStart(8, '0')}`, 'brdg-<pool-net-hex>');
  }
  out = out.replace(/"ContainerPath":"[^"]*"/g, '"ContainerPath":"<container-path>"');
  const inst = /"kawasaki\.iptable-inst":"([^"]+)"/.exec(out)?.[1];
  if (inst !== undefined) out = out.replaceAll(inst, '<inst>');
  out = out.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>');
  out = out.replace(/"stream_id":"\d+"/g, '"stream_id":"<stream-id>"');
  out = out.replace(/\/attaches\/\d+\//g, '/attaches/<stream-id>/');
  return out;
}

function normaliseHead(side: Side, headers: [string, string][]): string[] {
  return headers.map(([name, value]) => {
    if (/^date$/i.test(name)) {
      assert.match(value, /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/, `${side.name}: Date format`);
      return `${name}: <date>`;
    }
    if (/^content-length$/i.test(name)) return `${name}: <length>`;
    return `${name}: ${normalise(side, value)}`;
  });
}

function view(side: Side, raw: Buffer): HttpView {
  const { statusLine, headers, body } = splitResponse(side, raw);
  return { statusLine, headers: normaliseHead(side, headers), body: normalise(side, body.toString('utf8')) };
}

/** A tar body as a comparable list: names, types, modes, sizes, contents (mtimes and owner names vary). */
async function tarEntries(data: Buffer): Promise<{ length: number; entries: string[] }> {
  const entries: string[] = [];
  const archive = extract();
  const done = new Promise<void>((resolve, reject) => {
    archive.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: unknown) => chunks.push(Buffer.from(chunk as Uint8Array)));
      stream.on('end', () => {
        entries.push(
          `${header.type} ${header.name} ${(header.mode ?? 0).toString(8)} ${header.uid ?? ''}:${header.gid ?? ''} ${header.size ?? 0} ${JSON.stringify(Buffer.concat(chunks).toString('utf8'))}`,
        );
        next();
      });
      stream.resume();
    });
    archive.on('finish', resolve);
    archive.on('error', reject);
  });
  archive.end(data);
  await done;
  return { length: data.length, entries };
}

interface ProcessView {
  head: string[];
  /** Raw bytes after the head (NDJSON, never chunk-framed), split into lines. */
  frames: string[];
  stdout?: HttpView;
  stderr?: HttpView;
}

function headerPairs(lines: string[]): [string, string][] {
  return lines.map((line): [string, string] => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1).trim()]);
}

/**
 * A process run as the CPI's client does it: POST on connection A, read the start frame, open the stdout and
 * stderr attaches (B, C); then stdin as frames and the close frame; A is read to its close, B and C too.
 */
class ProcessRun {
  private received = Buffer.alloc(0);
  private closed = false;
  private wake: (() => void) | undefined;
  private headEnd = -1;
  private outputs: Promise<[Buffer, Buffer]> | undefined;
  processId = '';

  private constructor(
    private readonly side: Side,
    private readonly socket: Socket,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  /** Started (A open, B and C attached), or the error response it got instead. */
  static async start(side: Side, handle: string, spec: Record<string, unknown>): Promise<ProcessRun | HttpView> {
    const run = new ProcessRun(side, connectTo(side.address));
    run.socket.write(processRequest('POST', `/containers/${handle}/processes`, JSON.stringify({ rlimits: {}, ...spec })));
    await run.until(() => run.received.indexOf('\r\n\r\n') >= 0);
    run.headEnd = run.received.indexOf('\r\n\r\n');
    const head = run.received.subarray(0, run.headEnd).toString('latin1');
    if (!head.startsWith('HTTP/1.1 201 ')) {
      // An error is a plain response; without `Connection: close` the server keeps the connection open.
      const length = /\r\ncontent-length: (\d+)/i.exec(head)?.[1];
      await run.until(() => length !== undefined && run.received.length >= run.headEnd + 4 + Number(length));
      run.socket.destroy();
      return view(side, run.received);
    }
    await run.until(() => run.received.indexOf('\n', run.headEnd + 4) >= 0);
    const firstLine = run.received.subarray(run.headEnd + 4, run.received.indexOf('\n', run.headEnd + 4)).toString('utf8');
    const started = JSON.parse(firstLine) as { process_id: string; stream_id: string };
    run.processId = started.process_id;
    const attach = (which: 'stdout' | 'stderr') =>
      exchange(side, processRequest('GET', `/containers/${handle}/processes/${started.process_id}/attaches/${started.stream_id}/${which}`));
    run.outputs = Promise.all([attach('stdout'), attach('stderr')]);
    return run;
  }

  /** stdin as the client sends it: one data frame per chunk, then `source` 0 without data (close). */
  sendStdin(text: string): void {
    this.socket.write(`${JSON.stringify({ process_id: this.processId, source: 0, data: text })}\n`);
    this.socket.write(`${JSON.stringify({ process_id: this.processId, source: 0 })}\n`);
  }

  /** runDetached: closes A right after the start frame (the CPI starts the agent so); head and that frame. */
  detach(): ProcessView {
    this.socket.destroy();
    const [statusLine = '', ...headers] = this.received.subarray(0, this.headEnd).toString('latin1').split('\r\n');
    const body = this.received.subarray(this.headEnd + 4).toString('utf8');
    return {
      head: [statusLine, ...normaliseHead(this.side, headerPairs(headers))],
      frames: [normalise(this.side, body.slice(0, body.indexOf('\n') + 1))],
    };
  }

  /** Waits for the server to close A (after the exit frame) and for B and C to end. */
  async finish(): Promise<ProcessView> {
    await this.until(() => false);
    const [stdout, stderr] = (await this.outputs) ?? [Buffer.alloc(0), Buffer.alloc(0)];
    const [statusLine = '', ...headers] = this.received.subarray(0, this.headEnd).toString('latin1').split('\r\n');
    return {
      head: [statusLine, ...normaliseHead(this.side, headerPairs(headers))],
      frames: normalise(this.side, this.received.subarray(this.headEnd + 4).toString('utf8')).split('\n'),
      stdout: rawStreamView(this.side, stdout),
      stderr: rawStreamView(this.side, stderr),
    };
  }

  private async until(ready: () => boolean): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (!ready() && !this.closed) {
      if (Date.now() > deadline)
        throw new Error(`${this.side.name}: process connection stalled: ${JSON.stringify(this.received.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 1000).unref();
      });
    }
  }
}

async function runProcess(side: Side, handle: string, spec: Record<string, unknown>, stdin?: string): Promise<ProcessView | HttpView> {
  const run = await ProcessRun.start(side, handle, spec);
  if (!(run instanceof ProcessRun)) return run;
  if (stdin !== undefined) run.sendStdin(stdin);
  return run.finish();
}

/** B and C: a chunked head, then raw bytes (never chunk-framed) until close. */
function rawStreamView(side: Side, raw: Buffer): HttpView {
  const headEnd = raw.indexOf('\r\n\r\n');
  assert.ok(headEnd >= 0, `${side.name}: no head on an output attach`);
  const [statusLine = '', ...lines] = raw.subarray(0, headEnd).toString('latin1').split('\r\n');
  return {
    statusLine,
    headers: normaliseHead(side, headerPairs(lines)),
    body: normalise(side, raw.subarray(headEnd + 4).toString('utf8')),
  };
}

/** The same-shaped inputs for one side: a rootfs, RW and RO bind-mount dirs, an RO single file. */
async function prepareSide(dir: string): Promise<void> {
  await busyboxRootfs(join(dir, 'rootfs'));
  for (const sub of ['ephemeral', 'persistent', 'readonly']) await mkdir(join(dir, sub), { recursive: true });
  await writeFile(join(dir, 'readonly', 'marker'), 'read-only dir\n');
  await writeFile(join(dir, 'settings.json'), '{"agent_id":"agent-1"}\n');
}

/** The container the CPI's create_vm asks for (src/vms/container-spec.ts), with this side's paths. */
function containerSpec(side: Side, handle: string): Record<string, unknown> {
  return {
    handle,
    image: { uri: `raw://${join(side.dir, 'rootfs')}` },
    privileged: true,
    network: '10.244.5.10/24',
    bind_mounts: [
      { src_path: join(side.dir, 'ephemeral'), dst_path: '/var/vcap/data', mode: 1 },
      { src_path: join(side.dir, 'persistent'), dst_path: '/warden-cpi-dev', mode: 1 },
      { src_path: join(side.dir, 'readonly'), dst_path: '/var/vcap/readonly', mode: 0 },
      { src_path: join(side.dir, 'settings.json'), dst_path: '/var/vcap/bosh/warden-cpi-agent-env.json', mode: 0 },
    ],
    properties: { 'bosh.agent_id': 'agent-1', 'garden-cpi.owner': OWNER, 'garden-cpi.init': 'runit' },
    limits: {
      bandwidth_limits: {},
      cpu_limits: { weight: 1024 },
      disk_limits: {},
      memory_limits: { limit_in_bytes: 512 * 1024 * 1024 },
      pid_limits: {},
    },
  };
}

describe('the Garden emulator answers as a real gdn does', { skip }, () => {
  let root: string;
  let emulator: GardenEmulator | undefined;
  let sides: [Side, Side];

  /** `fn` on both sides at once, gdn first; both are waited for even when one fails (nothing left running). */
  const onBoth = async <T>(fn: (side: Side) => Promise<T>): Promise<[T, T]> => {
    const [real, emul] = await Promise.allSettled([fn(sides[0]), fn(sides[1])]);
    if (real.status === 'rejected') throw real.reason;
    if (emul.status === 'rejected') throw emul.reason;
    return [real.value, emul.value];
  };
  /** One CPI-style request (built per side) to both servers, the answers compared in full. */
  const same = async (method: string, target: string, body?: (side: Side) => { json: unknown } | { tar: Buffer }): Promise<HttpView> => {
    const [real, emul] = await onBoth(async (side) => view(side, await exchange(side, cpiRequest(side, method, target, body?.(side)))));
    trace(`${method} ${target}`, real);
    assert.deepEqual(emul, real, `${method} ${target}: emulator (actual) vs gdn (expected)`);
    return real;
  };
  /** A GET /files on both; the body as tar entries, or (`framing`) as its chunk sizes and length. */
  const sameStreamOut = async (source: string, body: 'tar' | 'framing'): Promise<void> => {
    const target = `/containers/${HANDLE}/files?user=root&source=${encodeURIComponent(source)}`;
    const [real, emul] = await onBoth(async (side) => {
      const raw = await exchange(side, cpiRequest(side, 'GET', target));
      const { body: bytes, chunkSizes } = splitResponse(side, raw);
      return {
        ...view(side, raw),
        body: body === 'tar' ? await tarEntries(bytes) : { length: bytes.length, zeros: bytes.every((byte) => byte === 0), chunkSizes },
      };
    });
    trace(`GET ${target}`, real);
    assert.deepEqual(emul, real, `GET ${target}: emulator (actual) vs gdn (expected)`);
  };
  /** Runs the same process on both, one after the other (output order within a side is what counts). */
  const sameProcess = async (spec: Record<string, unknown>, stdin?: string, handle = HANDLE): Promise<ProcessView | HttpView> => {
    const [real, emul] = sides;
    const expected = await runProcess(real, handle, spec, stdin);
    const actual = await runProcess(emul, handle, spec, stdin);
    trace(`POST /containers/${handle}/processes ${JSON.stringify(spec)}`, expected);
    assert.deepEqual(actual, expected, `POST /containers/${handle}/processes ${JSON.stringify(spec)}: emulator (actual) vs gdn (expected)`);
    return expected;
  };

  before(async () => {
    if (garden.kind !== 'real') return;
    root = await mkdtemp(join(tmpdir(), 'garden-fidelity-'));
    const realSide: Side = { name: 'gdn', address: { network: garden.network, address: garden.address }, dir: join(root, SIDE_NAMES.gdn) };
    const emulDir = join(root, SIDE_NAMES.emulator);
    for (const dir of [realSide.dir, emulDir]) await prepareSide(dir);
    emulator = await startGardenEmulator({
      listen: { host: '127.0.0.1', port: 0 },
      stateDir: join(root, 'state'),
      processMode: 'exec',
      // scripts/real-garden.sh starts gdn with --tag $GARDEN_TAG (default z) and exports it to the tests.
      tag: process.env.GARDEN_TAG ?? 'z',
    });
    sides = [realSide, { name: 'emulator', address: emulator.address, dir: emulDir }];
  });

  after(async () => {
    if (garden.kind === 'real' && sides !== undefined) {
      const real = sides[0];
      for (const handle of [HANDLE, BAD_HANDLE, DYNAMIC_HANDLE])
        await exchange(real, cpiRequest(real, 'DELETE', `/containers/${handle}`)).catch(() => undefined);
    }
    await emulator?.close();
    if (root !== undefined) await rm(root, { recursive: true, force: true });
  });

  it('GET /ping', async () => {
    await same('GET', '/ping');
  });

  it('POST /containers: privileged, raw:// busybox root, static IP, RW/RO bind mounts (one a file), properties, limits', async () => {
    const answer = await same('POST', '/containers', (side) => ({ json: containerSpec(side, HANDLE) }));
    assert.equal(answer.body, `{"Handle":"${HANDLE}"}\n`);
  });

  it('POST /containers with a handle in use: 500', async () => {
    const answer = await same('POST', '/containers', (side) => ({ json: containerSpec(side, HANDLE) }));
    assert.match(answer.statusLine, / 500 /);
  });

  it('POST /containers with a missing bind-mount source: 500, nothing left behind', async () => {
    const answer = await same('POST', '/containers', (side) => ({
      json: { ...containerSpec(side, BAD_HANDLE), network: '', bind_mounts: [{ src_path: join(side.dir, 'no-such-dir'), dst_path: '/x', mode: 1 }] },
    }));
    assert.match(answer.statusLine, / 500 /);
    await same('GET', `/containers/${BAD_HANDLE}/info`);
  });

  it('POST /containers on a dynamic network, GET info, DELETE', async () => {
    await same('POST', '/containers', (side) => ({ json: { ...containerSpec(side, DYNAMIC_HANDLE), network: '' } }));
    await same('GET', `/containers/${DYNAMIC_HANDLE}/info`);
    await same('DELETE', `/containers/${DYNAMIC_HANDLE}`);
  });

  it('POST /containers with a missing raw:// root', async () => {
    await same('POST', '/containers', (side) => ({
      json: { ...containerSpec(side, BAD_HANDLE), image: { uri: `raw://${join(side.dir, 'no-such-root')}` } },
    }));
  });

  it('GET /containers with a property filter: ours, then none', async () => {
    const mine = await same('GET', `/containers?garden-cpi.owner=${OWNER}`);
    assert.equal(mine.body, `{"Handles":["${HANDLE}"]}\n`);
    await same('GET', `/containers?garden-cpi.owner=${OWNER}&bosh.agent_id=nobody`);
  });

  it('GET /containers/:handle/info', async () => {
    await same('GET', `/containers/${HANDLE}/info`);
  });

  it('GET /containers/:handle/info of an unknown handle', async () => {
    await same('GET', `/containers/${UNKNOWN}/info`);
  });

  it('PUT /containers/:handle/properties/:key (set_vm_metadata), then GET /properties', async () => {
    for (const [key, value] of [
      ['bosh.name', 'zookeeper/0'],
      ['bosh.index', '0'],
      ['bosh.deployment', 'dep'],
    ]) {
      await same('PUT', `/containers/${HANDLE}/properties/${key}`, () => ({ json: { value } }));
    }
    await same('GET', `/containers/${HANDLE}/properties`);
    await same('GET', `/containers/${HANDLE}/properties/bosh.name`);
  });

  it('GET /containers/:handle/properties/:key of a missing key', async () => {
    await same('GET', `/containers/${HANDLE}/properties/no.such.key`);
  });

  it('unknown handle: GET, PUT, GET, DELETE properties (gdn keeps properties by handle, container or not)', async () => {
    await same('GET', `/containers/${UNKNOWN}/properties`);
    await same('PUT', `/containers/${UNKNOWN}/properties/bosh.name`, () => ({ json: { value: 'x' } }));
    await same('GET', `/containers/${UNKNOWN}/properties`);
    await same('GET', `/containers/${UNKNOWN}/properties/bosh.name`);
    await same('DELETE', `/containers/${UNKNOWN}/properties/bosh.name`);
    await same('GET', `/containers/${UNKNOWN}/properties`);
  });

  it('unknown handle: PUT stop', async () => {
    await same('PUT', `/containers/${UNKNOWN}/stop`, () => ({ json: { kill: false } }));
  });

  it('unknown handle: DELETE', async () => {
    await same('DELETE', `/containers/${UNKNOWN}`);
  });

  it('unknown handle: PUT and GET files', async () => {
    const tar = await tarOf([{ name: 'f', mode: 0o644, content: 'x\n' }]);
    await same('PUT', `/containers/${UNKNOWN}/files?user=root&destination=%2Ftmp%2F`, () => ({ tar }));
    await same('GET', `/containers/${UNKNOWN}/files?user=root&source=%2Ftmp%2Ff`);
  });

  it('unknown handle: POST processes', async () => {
    await sameProcess({ path: '/bin/sh', args: ['-c', 'exit 0'], user: 'root' }, undefined, UNKNOWN);
  });

  it('POST /containers/:handle/processes: what the process sees (user, dir, env, hostname, mounts)', async () => {
    const script = [
      'id',
      'pwd',
      'hostname',
      'env | sort',
      'cat /var/vcap/bosh/warden-cpi-agent-env.json',
      'ls /var/vcap/readonly',
      'touch /var/vcap/readonly/x; echo "ro dir: $?"',
      'echo x >> /var/vcap/bosh/warden-cpi-agent-env.json; echo "ro file: $?"',
      'touch /var/vcap/data/x && rm /var/vcap/data/x; echo "rw dir: $?"',
    ].join('\n');
    await sameProcess({ path: '/bin/sh', args: ['-c', script], user: 'root' });
  });

  it('POST /containers/:handle/processes: as a user from the rootfs passwd (home made, env, ids)', async () => {
    await sameProcess({ path: 'sh', args: ['-c', 'id; pwd; env | sort; stat -c "%U:%G %a %F" "$HOME"'], user: 'vcap' });
  });

  it('POST /containers/:handle/processes: as a numeric user and group, and in a given dir', async () => {
    await sameProcess({ path: 'sh', args: ['-c', 'id; pwd; echo "$HOME $USER"'], user: '1234:1000', dir: '/tmp/work/sub' });
  });

  it('POST /containers/:handle/processes: as a user the rootfs does not know', async () => {
    await sameProcess({ path: '/bin/sh', args: ['-c', 'exit 0'], user: 'nosuchuser' });
  });

  it('PUT /containers/:handle/files: a tar streamed in', async () => {
    const tar = await tarOf([
      { name: 'warden-cpi-agent-env.json.new', mode: 0o644, content: '{"agent_id":"agent-1"}\n' },
      { name: 'bin/run.sh', mode: 0o755, content: '#!/bin/sh\necho hi\n' },
      { name: 'bin/lib/data.txt', mode: 0o600, content: 'data\n' },
    ]);
    await same('PUT', `/containers/${HANDLE}/files?user=root&destination=%2Fvar%2Fvcap%2Fbosh%2F`, () => ({ tar }));
  });

  it('GET /containers/:handle/files?source=: the file comes back as a tar', async () => {
    await sameStreamOut('/var/vcap/bosh/warden-cpi-agent-env.json.new', 'tar');
  });

  it('GET /containers/:handle/files?source= of a directory (trailing slash)', async () => {
    await sameStreamOut('/var/vcap/bosh/bin/', 'tar');
  });

  it('GET /containers/:handle/files?source= of a missing source: an empty tar, framed as gdn frames it', async () => {
    await sameStreamOut('/var/vcap/bosh/missing.json', 'framing');
  });

  it('POST /containers/:handle/processes: exit 0 with stdout and stderr', async () => {
    const answer = await sameProcess({ path: '/bin/sh', args: ['-c', 'echo out-line; echo err-line >&2; exit 0'], user: 'root' });
    assert.ok('frames' in answer);
  });

  it('POST /containers/:handle/processes: exit 3', async () => {
    await sameProcess({ path: '/bin/sh', args: ['-c', 'echo three; exit 3'], user: 'root' });
  });

  it('POST /containers/:handle/processes: stdin frames, then the close frame', async () => {
    await sameProcess({ path: '/bin/cat', args: [], user: 'root' }, 'from stdin\n');
  });

  it('POST /containers/:handle/processes: a missing executable', async () => {
    await sameProcess({ path: '/bin/no-such-program', args: [], user: 'root' });
  });

  it('POST /containers/:handle/processes: a missing executable looked up in PATH', async () => {
    await sameProcess({ path: 'no-such-program', args: [], user: 'root' });
  });

  it('POST /containers/:handle/processes detached (the agent start): A closed after the start frame', async () => {
    const spec = { path: '/bin/sh', args: ['-c', 'exec sleep 1000'], user: 'root' };
    const views = await onBoth(async (side) => {
      const started = await ProcessRun.start(side, HANDLE, spec);
      return started instanceof ProcessRun ? started.detach() : started;
    });
    trace('POST processes, detached', views[0]);
    assert.deepEqual(views[1], views[0]);
  });

  it('PUT /containers/:handle/stop (kill false) with a process running: its connection gets the exit status', async () => {
    const spec = { path: '/bin/sh', args: ['-c', 'echo started; exec sleep 1000'], user: 'root' };
    const [real, emul] = await onBoth(async (side) => {
      const run = await ProcessRun.start(side, HANDLE, spec);
      assert.ok(run instanceof ProcessRun, `${side.name}: start failed: ${JSON.stringify(run)}`);
      return run;
    });
    await sleep(500);
    await same('PUT', `/containers/${HANDLE}/stop`, () => ({ json: { kill: false } }));
    const expected = await real.finish();
    trace('the process running through stop', expected);
    assert.deepEqual(await emul.finish(), expected);
  });

  it('PUT /containers/:handle/stop (kill false) of a stopped container, then GET info', async () => {
    await same('PUT', `/containers/${HANDLE}/stop`, () => ({ json: { kill: false } }));
    await same('GET', `/containers/${HANDLE}/info`);
  });

  it('POST /containers/:handle/processes after stop', async () => {
    await sameProcess({ path: '/bin/sh', args: ['-c', 'echo after-stop'], user: 'root' });
  });

  it('DELETE /containers/:handle, then again', async () => {
    await same('DELETE', `/containers/${HANDLE}`);
    await same('DELETE', `/containers/${HANDLE}`);
    await same('GET', `/containers?garden-cpi.owner=${OWNER}`);
  });
});
