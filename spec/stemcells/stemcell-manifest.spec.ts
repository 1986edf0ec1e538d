import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseStemcellManifest, readStemcellManifest } from '../../src/stemcells/stemcell-manifest';

describe('parseStemcellManifest', () => {
  it('reads a real stemcell.MF (block list, nested cloud_properties ignored)', () => {
    const text = [
      '---',
      'name: bosh-warden-boshlite-ubuntu-noble',
      "version: '1.108'",
      'bosh_protocol: 1',
      'api_version: 3',
      'sha1: 0123456789abcdef0123456789abcdef01234567',
      'operating_system: ubuntu-noble',
      'stemcell_formats:',
      '- warden-tar',
      '  - general-tar',
      'cloud_properties:',
      '  name: nested-name-must-not-win',
      '  infrastructure: warden',
      '',
    ].join('\n');
    assert.deepEqual(parseStemcellManifest(text), {
      name: 'bosh-warden-boshlite-ubuntu-noble',
      version: '1.108',
      api_version: 3,
      sha1: '0123456789abcdef0123456789abcdef01234567',
      operating_system: 'ubuntu-noble',
      stemcell_formats: ['warden-tar', 'general-tar'],
    });
  });

  it('reads inline lists, double quotes, comments and CRLF', () => {
    const text = 'name: "light stemcell" # a comment\r\nversion: 621.5\r\nstemcell_formats: [warden-light, "docker-light"]\r\napi_version: "2"\r\n';
    assert.deepEqual(parseStemcellManifest(text), {
      name: 'light stemcell',
      version: '621.5',
      stemcell_formats: ['warden-light', 'docker-light'],
      api_version: 2,
    });
  });

  it('tolerates garbage: what cannot be read is left out', () => {
    assert.deepEqual(parseStemcellManifest('\0\0 not yaml at all\n- stray item\napi_version: three\nsha1:\n'), {});
    assert.deepEqual(parseStemcellManifest(''), {});
  });
});

describe('readStemcellManifest', () => {
  it('reads stemcell.MF beside the image, and is undefined when there is none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'manifest-spec-'));
    try {
      await writeFile(join(dir, 'image'), '');
      assert.equal(await readStemcellManifest(join(dir, 'image')), undefined);
      await writeFile(join(dir, 'stemcell.MF'), 'operating_system: ubuntu-jammy\n');
      assert.deepEqual(await readStemcellManifest(join(dir, 'image')), { operating_system: 'ubuntu-jammy' });
      // Unreadable (a directory in its place) is not an error either.
      await rm(join(dir, 'stemcell.MF'));
      await mkdir(join(dir, 'stemcell.MF'));
      assert.equal(await readStemcellManifest(join(dir, 'image')), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
