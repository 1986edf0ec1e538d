import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCpiConfig } from '../../src/config/cpi-config';

const example = (name: string): unknown => JSON.parse(readFileSync(join(__dirname, '..', '..', 'examples', name), 'utf8'));

describe('examples/ cpi.json samples', () => {
  it('both shapes parse, to the same config', () => {
    const ours = parseCpiConfig(example('cpi.json'));
    const upstream = parseCpiConfig(example('cpi-upstream.json'));
    assert.equal(ours.warden.connect_address, '127.0.0.1:7777');
    assert.equal(ours.actions.expand_stemcell_tarball, false);
    assert.equal(ours.start_containers_with_systemd, true);
    // Upstream's shape has no garden_init_path, timeouts, log_level or state_dir: their defaults are ours.
    assert.deepEqual({ ...upstream, log_level: ours.log_level }, ours);
  });
});
