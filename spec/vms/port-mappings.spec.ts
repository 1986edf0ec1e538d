import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { formatPortRange, parsePortMapping, parsePortRange } from '../../src/vms/port-mappings';
import { toVmResources, vmCloudPropertiesSchema } from '../../src/vms/vm-cloud-properties';

describe('port mappings (upstream semantics)', () => {
  it('parses single ports and ranges with either separator', () => {
    assert.deepEqual(parsePortRange('80'), { start: 80, end: 80 });
    assert.deepEqual(parsePortRange('1000:2000'), { start: 1000, end: 2000 });
    assert.deepEqual(parsePortRange('1000 - 2000'), { start: 1000, end: 2000 });
    for (const bad of ['0', '080', 'a', '70000', '2000:1000', '']) assert.throws(() => parsePortRange(bad), /Port range/);
  });

  it('defaults container to host and protocol to tcp; ranges must match and be tcp/udp', () => {
    assert.deepEqual(parsePortMapping({ host: '22' }), { host: { start: 22, end: 22 }, container: { start: 22, end: 22 }, protocol: 'tcp' });
    assert.equal(parsePortMapping({ host: '53', container: '5353', protocol: 'udp' }).container.start, 5353);
    assert.throws(() => parsePortMapping({ host: '1000:1001', container: '2000:2001' }), /must be same/);
    assert.throws(() => parsePortMapping({ host: '1000:1001', container: '1000' }), /same length/);
    assert.throws(() => parsePortMapping({ host: '1000:1001', protocol: 'icmp' }), /tcp or udp/);
  });

  it('formats ranges for --dport and --to', () => {
    assert.equal(formatPortRange({ start: 1000, end: 2000 }, ':'), '1000:2000');
    assert.equal(formatPortRange({ start: 1000, end: 2000 }, '-'), '1000-2000');
    assert.equal(formatPortRange({ start: 80, end: 80 }, '-'), '80');
  });
});

describe('vm cloud properties', () => {
  it('accepts numbers or strings for ports, maps sizes to Garden units and ignores unknown keys', () => {
    const parsed = vmCloudPropertiesSchema.parse({
      ports: [{ host: 6868 }, { host: '80', container: 8080 }],
      memory_mb: 512,
      cpu: 2,
      ephemeral_disk_mb: 100,
      instance_type: 'x',
    });
    const resources = toVmResources(parsed);
    assert.deepEqual(
      resources.ports.map((p) => [p.host.start, p.container.start]),
      [
        [6868, 6868],
        [80, 8080],
      ],
    );
    assert.equal(resources.memoryBytes, 512 * 1024 * 1024);
    assert.equal(resources.cpuWeight, 2048);
    assert.equal(resources.diskBytes, 100 * 1024 * 1024);
    assert.deepEqual(toVmResources(vmCloudPropertiesSchema.parse(null)), { ports: [] });
  });

  it('names the bad port entry', () => {
    assert.throws(() => toVmResources(vmCloudPropertiesSchema.parse({ ports: [{ host: 80 }, { host: 'x' }] })), /Validating ports\[1\]/);
  });
});
