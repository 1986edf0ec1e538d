import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

// Shared by the release specs: paths, the ERB harness (render-template.rb, run with ruby) and the property
// sets the Director would pass. Ruby is required: CI installs the Debian package `ruby`.

export const repoDir = resolve(__dirname, '..', '..');
export const jobDir = join(repoDir, 'jobs', 'warden_cpi');
const harness = join(__dirname, 'render-template.rb');

/** Fails loudly (never skips) when ruby is missing: the templates are ERB and only Ruby renders them. */
export function assertRubyAvailable(): void {
  const probe = spawnSync('ruby', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error('ruby is required by spec/release (it renders the ERB job templates): apt-get install ruby');
  }
}

export interface RenderResult {
  ok: boolean;
  output: string;
  error: string;
}

/** Renders a template of jobs/warden_cpi as the Director would, without throwing on render errors. */
export function tryRenderTemplate(template: string, properties: object, instanceSpec: object = {}): RenderResult {
  const run = spawnSync('ruby', [harness, jobDir, template, '-'], {
    input: JSON.stringify({ properties, spec: instanceSpec }),
    encoding: 'utf8',
  });
  if (run.error) throw run.error;
  return { ok: run.status === 0, output: run.stdout, error: run.stderr };
}

export function renderTemplate(template: string, properties: object, instanceSpec: object = {}): string {
  const result = tryRenderTemplate(template, properties, instanceSpec);
  if (!result.ok) throw new Error(`rendering ${template} failed: ${result.error}`);
  return result.output;
}

/** Parses a YAML file with Ruby's YAML (Psych); there is no YAML npm dependency. */
export function readYaml(path: string): unknown {
  const run = spawnSync('ruby', ['-ryaml', '-rjson', '-e', 'puts JSON.generate(YAML.safe_load(File.read(ARGV[0])))', path], { encoding: 'utf8' });
  if (run.error) throw run.error;
  if (run.status !== 0) throw new Error(`${path} is not valid YAML: ${run.stderr}`);
  return JSON.parse(run.stdout) as unknown;
}

/** The properties without defaults that a deployment must set. */
export const requiredProperties = {
  warden_cpi: {
    warden: { connect_network: 'tcp', connect_address: '127.0.0.1:7777' },
    agent: { mbus: 'nats://nats:nats-password@10.254.50.4:4222' },
  },
};

/** bosh-deployment's bosh-lite.yml (docs/bosh-release.md). */
export const boshLiteProperties = {
  warden_cpi: {
    host_ip: '10.254.50.4',
    warden: { connect_network: 'tcp', connect_address: '127.0.0.1:7777' },
    agent: { mbus: 'nats://10.254.50.4:4222', blobstore: null },
    actions: { expand_stemcell_tarball: false },
    start_containers_with_systemd: true,
  },
};

/** bosh-deployment's warden/cpi.yml (create-env into a remote Garden). */
export const createEnvProperties = {
  warden_cpi: {
    actions: { expand_stemcell_tarball: false },
    agent: {
      mbus: 'https://mbus:mbus-password@0.0.0.0:6868',
      blobstore: { provider: 'local', options: { blobstore_path: '/var/vcap/micro_bosh/data/cache' } },
    },
    warden: { connect_network: 'tcp', connect_address: '10.0.0.5:7777' },
    start_containers_with_systemd: true,
  },
};

export interface JobSpec {
  name: string;
  templates: Record<string, string>;
  packages: string[];
  properties: Record<string, { description?: string; default?: unknown; example?: unknown }>;
}

export function readJobSpec(): JobSpec {
  return readYaml(join(jobDir, 'spec')) as JobSpec;
}
