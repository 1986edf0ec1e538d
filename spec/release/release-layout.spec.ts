import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { assertRubyAvailable, jobDir, readJobSpec, readYaml, repoDir } from './release-fixtures';

// The BOSH release directory as `bosh create-release` reads it (docs/bosh-release.md):
// config files, the job, the packages and the files their specs' globs must find under src/ or blobs/.

interface PackageSpec {
  name: string;
  dependencies?: string[];
  files: string[];
  excluded_files?: string[];
}

type BlobsIndex = Record<string, { size: number; sha: string; object_id?: string }>;

/** bosh-cli's package globs (Go filepath.Match plus `**` and `{a,b}`) as a regular expression. */
function globToRegExp(glob: string): RegExp {
  let pattern = '';
  for (let i = 0; i < glob.length; i += 1) {
    const char = glob[i] ?? '';
    if (glob.startsWith('**/', i)) {
      pattern += '(?:.*/)?';
      i += 2;
    } else if (glob.startsWith('**', i)) {
      pattern += '.*';
      i += 1;
    } else if (char === '*') pattern += '[^/]*';
    else if (char === '?') pattern += '[^/]';
    else if (char === '{') pattern += '(?:';
    else if (char === '}') pattern += ')';
    else if (char === ',') pattern += '|';
    else pattern += char.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${pattern}$`);
}

async function listFiles(dir: string, base = dir): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const nested = await Promise.all(
    entries.map((entry) => {
      const path = join(dir, entry.name);
      return entry.isDirectory() ? listFiles(path, base) : Promise.resolve([relative(base, path)]);
    }),
  );
  return nested.flat();
}

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

describe('the BOSH release directory', () => {
  let blobs: BlobsIndex = {};
  /** Where the test prepares the package files: a temp release dir, never the repo's src/. */
  let prepared = '';
  before(async () => {
    assertRubyAvailable();
    blobs = (readYaml(join(repoDir, 'config', 'blobs.yml')) ?? {}) as BlobsIndex;
    await access(join(repoDir, 'dist', 'cpi.js')).catch(() => {
      throw new Error("dist/cpi.js is missing: run 'npm run build' first");
    });
    // What scripts/release.sh does before `bosh create-release`: copy the bundle where the package spec looks.
    prepared = await mkdtemp(join(tmpdir(), 'release-layout-'));
    const prepare = spawnSync('bash', [join(repoDir, 'scripts', 'release.sh'), 'prepare', prepared], { encoding: 'utf8' });
    assert.equal(prepare.status, 0, prepare.stderr);
  });
  after(() => rm(prepared, { recursive: true, force: true }));

  it('config/final.yml names the release garden-cpi and configures a blobstore', () => {
    const finalConfig = readYaml(join(repoDir, 'config', 'final.yml')) as { name?: string; final_name?: string; blobstore?: { provider?: string } };
    assert.equal(finalConfig.name, 'garden-cpi');
    assert.equal(finalConfig.final_name, undefined, 'final.yml takes name or final_name, not both');
    assert.ok(['local', 's3', 'gcs'].includes(finalConfig.blobstore?.provider ?? ''));
  });

  it('config/blobs.yml records a size and a sha256 for every blob, matching any local copy', async () => {
    assert.ok(Object.keys(blobs).length > 0);
    for (const [path, blob] of Object.entries(blobs)) {
      assert.ok(Number.isInteger(blob.size) && blob.size > 0, `${path} size`);
      assert.match(blob.sha, /^sha256:[0-9a-f]{64}$/, `${path} sha`);
      const local = join(repoDir, 'blobs', path);
      const present = await stat(local).catch(() => undefined);
      if (present) {
        assert.equal(present.size, blob.size, `blobs/${path} size`);
        assert.equal(`sha256:${await sha256(local)}`, blob.sha, `blobs/${path} sha256`);
      }
    }
  });

  it('the job spec parses, is named after its directory and lists only existing templates and packages', async () => {
    const spec = readJobSpec();
    assert.equal(spec.name, 'warden_cpi');
    const templateFiles = (await readdir(join(jobDir, 'templates'))).sort();
    assert.deepEqual(Object.keys(spec.templates).sort(), templateFiles, 'every template file is listed, and only those');
    for (const target of Object.values(spec.templates)) assert.match(target, /^(bin|config)\//);
    await access(join(jobDir, 'monit'));
    for (const name of spec.packages) {
      await access(join(repoDir, 'packages', name, 'spec'));
    }
    assert.ok(spec.packages.includes('warden_cpi') && spec.packages.includes('garden-cpi-node'));
  });

  it('every package spec parses and each of its globs matches files under src/, blobs/ or config/blobs.yml', async () => {
    // The repo's src/ holds the TypeScript; the bundle is only ever copied in by scripts/release.sh, here into
    // the temp release dir (a src/warden_cpi/ that an earlier `npm run release` left in the repo does not count).
    const srcFiles = [
      ...(await listFiles(join(repoDir, 'src'))).filter((file) => !file.startsWith('warden_cpi/')),
      ...(await listFiles(join(prepared, 'src'))),
    ];
    const blobFiles = [...new Set([...(await listFiles(join(repoDir, 'blobs'))), ...Object.keys(blobs)])];
    const packageNames = (await readdir(join(repoDir, 'packages'))).sort();
    assert.deepEqual(packageNames, ['garden-cpi-node', 'warden_cpi']);

    const matched: Record<string, string[]> = {};
    for (const name of packageNames) {
      const spec = readYaml(join(repoDir, 'packages', name, 'spec')) as PackageSpec;
      assert.equal(spec.name, name);
      await access(join(repoDir, 'packages', name, 'packaging'));
      for (const dependency of spec.dependencies ?? []) assert.ok(packageNames.includes(dependency), dependency);
      matched[name] = [];
      for (const glob of spec.files) {
        const pattern = globToRegExp(glob);
        const hits = [...srcFiles, ...blobFiles].filter((file) => pattern.test(file));
        assert.ok(hits.length > 0, `package ${name}: "Missing files for pattern '${glob}'"`);
        matched[name].push(...hits);
      }
    }
    // Only the bundle goes into warden_cpi: no TypeScript, nothing compiled on the compilation VM.
    assert.deepEqual(matched.warden_cpi?.sort(), [
      'warden_cpi/cpi-methods.cache',
      'warden_cpi/cpi-methods.js',
      'warden_cpi/cpi-methods.js.map',
      'warden_cpi/cpi.js',
      'warden_cpi/cpi.js.map',
    ]);
    assert.deepEqual(
      matched['garden-cpi-node'],
      Object.keys(blobs).filter((path) => path.startsWith('node/')),
    );
  });

  it("the prepared bundle is dist's build and git ignores it, like the blobs", async () => {
    assert.equal(await sha256(join(prepared, 'src', 'warden_cpi', 'cpi.js')), await sha256(join(repoDir, 'dist', 'cpi.js')));
    for (const path of ['src/warden_cpi/cpi.js', 'blobs/node/x.tgz', 'config/private.yml', 'dev_releases/x.tgz']) {
      const ignored = spawnSync('git', ['check-ignore', '-q', path], { cwd: repoDir });
      assert.equal(ignored.status, 0, `${path} must be gitignored`);
    }
  });

  it('the manifests/ ops files parse and swap the upstream release for garden-cpi', () => {
    type Op = { type: string; path: string; value?: unknown };
    const expected: Record<string, string> = {
      'use-garden-cpi.yml': '/instance_groups/name=bosh/jobs/name=warden_cpi/release',
      'use-garden-cpi-create-env.yml': '/cloud_provider/template/release',
    };
    for (const [file, jobReleasePath] of Object.entries(expected)) {
      const ops = readYaml(join(repoDir, 'manifests', file)) as Op[];
      assert.deepEqual(
        ops.map((op) => [op.type, op.path]),
        [
          ['remove', '/releases/name=bosh-warden-cpi?'],
          ['replace', '/releases/name=garden-cpi?'],
          ['replace', jobReleasePath],
        ],
        file,
      );
      assert.deepEqual(ops[1]?.value, { name: 'garden-cpi', version: 'latest', url: 'file://((garden_cpi_release_tarball))' });
      assert.equal(ops[2]?.value, 'garden-cpi');
    }
  });

  it('package.json has the release script', async () => {
    const manifest = JSON.parse(await readFile(join(repoDir, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(manifest.scripts.release, 'bash scripts/release.sh');
  });
});
