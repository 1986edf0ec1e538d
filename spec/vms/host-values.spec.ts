import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertReachableAgentOptions, hostNameservers, isLoopbackAddress } from '../../src/vms/host-values';
import { silentLogger } from '../../src/log/logger';
import { type CpiEnvironment, startCpiEnvironment } from '../../testkit/cpi-environment';
import { BUNDLE, type CpiRun, runCpi } from '../../testkit/cpi-process';
import { NO_LEAKS } from '../../testkit/leak-checker';

// A manual network without `dns`, default for dns: create_vm backfills it from the host.
const NETWORKS = {
  default: { type: 'manual', ip: '10.244.0.40', netmask: '255.255.255.0', gateway: '10.244.0.1', default: ['dns', 'gateway'], cloud_properties: {} },
};

describe('host values handed to a VM', () => {
  it('knows loopback addresses', () => {
    for (const address of ['127.0.0.53', '127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', '[::1]', '::ffff:127.0.0.1', 'localhost']) {
      assert.equal(isLoopbackAddress(address), true, address);
    }
    for (const address of ['10.0.0.2', '8.8.8.8', '2001:db8::1', '::ffff:10.0.0.1', '128.0.0.1', 'ntp.ubuntu.com', '0.0.0.0']) {
      assert.equal(isLoopbackAddress(address), false, address);
    }
  });

  it('backfills the host nameservers without loopback ones, then the servers behind a stub, else none', async () => {
    const files = (map: Record<string, string>) => ({ readFile: async (path: string) => map[path], logger: silentLogger });
    assert.deepEqual(await hostNameservers(files({ '/etc/resolv.conf': 'nameserver 10.0.0.2\nnameserver 127.0.0.1\n' })), ['10.0.0.2']);
    assert.deepEqual(
      await hostNameservers(
        files({ '/etc/resolv.conf': 'nameserver 127.0.0.53\n', '/run/systemd/resolve/resolv.conf': 'nameserver 10.0.0.3\nnameserver ::1\n' }),
      ),
      ['10.0.0.3'],
    );
    assert.deepEqual(await hostNameservers(files({ '/etc/resolv.conf': 'nameserver 127.0.0.53\n' })), []);
    assert.deepEqual(await hostNameservers(files({})), []);
  });

  it('refuses agent options on a loopback address, naming the key and hiding credentials', () => {
    assertReachableAgentOptions({
      mbus: 'nats://nats:pw@10.254.50.4:4222',
      ntp: ['time.example.com'],
      blobstore: { options: { endpoint: 'http://10.254.50.4:25250' } },
    });
    assertReachableAgentOptions({ mbus: 'https://mbus:pw@0.0.0.0:6868', ntp: [] });
    assert.throws(
      () =>
        assertReachableAgentOptions({
          mbus: 'nats://nats:secret-pw@127.0.0.1:4222',
          ntp: ['127.0.0.1'],
          blobstore: { options: { endpoint: 'http://localhost:25250' } },
        }),
      (error: Error) => {
        assert.match(
          error.message,
          /agent\.mbus "nats:\/\/<redacted>@127\.0\.0\.1:4222", agent\.ntp\[0\] "127\.0\.0\.1", agent\.blobstore\.options\.endpoint "http:\/\/localhost:25250": a loopback address/,
        );
        assert.doesNotMatch(error.message, /secret-pw/);
        return true;
      },
    );
  });
});

/**
 * Field fault: with the host's resolv.conf holding only `nameserver 127.0.0.53` (systemd-resolved's stub)
 * create_vm wrote dns ["127.0.0.53"]: the container's own loopback, where nothing answers. Each case runs
 * bin/cpi in a private mount namespace with its own /etc/resolv.conf and /run (the trick from the report).
 */
describe('DNS backfill through bin/cpi (private mount namespace per case)', () => {
  let env: CpiEnvironment;
  let work: string;
  let stemcellCid: string;

  before(async () => {
    env = await startCpiEnvironment();
    work = await mkdtemp(join(tmpdir(), 'cpi-dns-'));
    // A stemcell is only a path to the scripted emulator: an empty tar will do.
    const image = join(work, 'image');
    await new Promise<void>((resolve, reject) => {
      const tar = spawn('sh', ['-c', 'tar -cf - -T /dev/null | gzip > "$1"', 'sh', image]);
      tar.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar ${code}`))));
    });
    stemcellCid = await env.ok<string>('create_stemcell', [image, {}]);
  });
  after(async () => {
    await env?.close();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  /** bin/cpi with `resolvConf` as /etc/resolv.conf and a fresh /run holding `upstream` (systemd-resolved's list) if given. */
  async function createVmWith(name: string, resolvConf: string, upstream?: string): Promise<{ run: CpiRun; dns: unknown; settingsDns: unknown }> {
    const stub = join(work, `${name}.conf`);
    await writeFile(stub, resolvConf);
    const upstreamFile = join(work, `${name}-upstream.conf`);
    if (upstream !== undefined) await writeFile(upstreamFile, upstream);
    const script = [
      'set -e',
      'mount -t tmpfs tmpfs /run',
      'target=$(readlink -f /etc/resolv.conf)',
      'mkdir -p "$(dirname "$target")"',
      '[ -e "$target" ] || : > "$target"',
      'mount --bind "$1" "$target"',
      'if [ -n "$5" ]; then mkdir -p /run/systemd/resolve && cp "$5" /run/systemd/resolve/resolv.conf; fi',
      'exec "$4" "$3" "$2"',
    ].join('\n');
    const body = JSON.stringify({
      method: 'create_vm',
      arguments: [`agent-${name}`, stemcellCid, {}, NETWORKS, [], {}],
      context: { director_uuid: 'dns', request_id: `cpi-${name}` },
      api_version: 2,
    });
    const run = await new Promise<CpiRun>((resolve, reject) => {
      const child = spawn(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          'sh',
          '-c',
          script,
          'sh',
          stub,
          env.configPath,
          BUNDLE,
          process.execPath,
          upstream === undefined ? '' : upstreamFile,
        ],
        {
          env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('error', reject);
      child.once('close', (status, signal) => {
        try {
          resolve({ status, signal, stdout, stderr, response: JSON.parse(stdout) as CpiRun['response'] });
        } catch {
          reject(new Error(`no JSON on stdout: ${stdout}; stderr: ${stderr}`));
        }
      });
      child.stdin.end(body);
    });
    assert.equal(run.response.error, null, `${JSON.stringify(run.response.error)}; stderr: ${run.stderr}`);
    const [vm, networks] = run.response.result as [string, { default: { dns?: unknown } }];
    const settings = JSON.parse(await readFile(join(env.dirs.stateDir, 'vms', vm, 'agent-settings.json'), 'utf8')) as {
      networks: { default: { dns?: unknown } };
    };
    await env.ok('delete_vm', [vm]);
    return { run, dns: networks.default.dns, settingsDns: settings.networks.default.dns };
  }

  it('the field report: only the 127.0.0.53 stub and no systemd-resolved list: no dns at all, and the log says why', async () => {
    const { run, dns, settingsDns } = await createVmWith('stub-only', 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n');
    assert.equal(dns, undefined);
    assert.equal(settingsDns, undefined);
    assert.match(run.stderr, /No DNS backfilled: every nameserver of the host is a loopback address a container cannot reach/);
  });

  it('only the stub, systemd-resolved knows the upstream servers: those are backfilled', async () => {
    const { dns, settingsDns } = await createVmWith('stub-and-resolved', 'nameserver 127.0.0.53\n', 'nameserver 10.0.0.2\nnameserver 10.0.0.3\n');
    assert.deepEqual(dns, ['10.0.0.2', '10.0.0.3']);
    assert.deepEqual(settingsDns, ['10.0.0.2', '10.0.0.3']);
  });

  it('loopback servers among real ones (dnsmasq, ::1) are left out', async () => {
    const { dns } = await createVmWith('mixed', 'nameserver 127.0.0.1\nnameserver 192.168.1.1\nnameserver ::1\n', 'nameserver 10.9.9.9\n');
    assert.deepEqual(dns, ['192.168.1.1']);
  });

  it('systemd-resolved listing only loopback servers too: nothing is backfilled', async () => {
    const { dns } = await createVmWith('loopback-everywhere', 'nameserver 127.0.0.53\n', 'nameserver 127.0.0.1\n');
    assert.equal(dns, undefined);
  });

  it('a host with real nameservers keeps working as before', async () => {
    const { dns } = await createVmWith('plain', 'nameserver 192.0.2.53\nnameserver 192.0.2.54\n');
    assert.deepEqual(dns, ['192.0.2.53', '192.0.2.54']);
    assert.deepEqual(await env.leaks(), NO_LEAKS);
  });

  it('agent options on a loopback address (mbus, ntp) are refused by create_vm, touching nothing', async () => {
    const config = JSON.parse(await readFile(env.configPath, 'utf8')) as Record<string, unknown>;
    const loopbackConfig = join(work, 'loopback-agent.json');
    await writeFile(
      loopbackConfig,
      JSON.stringify({ ...config, agent: { mbus: 'nats://nats:nats-pw@127.0.0.1:4222', ntp: ['127.0.0.1', 'time.example.com'] } }),
    );
    const body = JSON.stringify({
      method: 'create_vm',
      arguments: ['agent-lo', stemcellCid, {}, NETWORKS, [], {}],
      context: { director_uuid: 'dns' },
      api_version: 2,
    });
    const run = await runCpi(loopbackConfig, body);
    assert.equal(run.response.error?.type, 'Bosh::Clouds::CloudError', run.stdout);
    assert.match(
      run.response.error?.message ?? '',
      /agent\.mbus "nats:\/\/<redacted>@127\.0\.0\.1:4222", agent\.ntp\[0\] "127\.0\.0\.1": a loopback address, which a container cannot reach/,
    );
    assert.deepEqual(env.garden.containerHandles(), []);
    assert.deepEqual(await env.leaks(), NO_LEAKS);
  });
});
