import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidConfig, parseCpiConfig } from '../../src/config/cpi-config';

const base = {
  warden: { connect_network: 'tcp', connect_address: '127.0.0.1:7777' },
  actions: {},
  agent: { mbus: 'nats://x' },
};

describe('warden.request_timeout_seconds and warden.long_request_timeout_seconds', () => {
  it('default to 30 s and 600 s', () => {
    const config = parseCpiConfig(base);
    assert.equal(config.warden.request_timeout_seconds, 30);
    assert.equal(config.warden.long_request_timeout_seconds, 600);
  });

  it('accept fractions of seconds, and the upstream PascalCase spelling', () => {
    const { warden, ...rest } = base;
    const config = parseCpiConfig({ ...rest, Warden: { ...warden, RequestTimeoutSeconds: 2.5, LongRequestTimeoutSeconds: 1200 } });
    assert.equal(config.warden.request_timeout_seconds, 2.5);
    assert.equal(config.warden.long_request_timeout_seconds, 1200);
  });

  for (const [key, value, expected] of [
    ['request_timeout_seconds', 0, /greater than 0 and at most 3600, got 0/],
    ['request_timeout_seconds', -5, /got -5/],
    ['request_timeout_seconds', 3601, /at most 3600, got 3601/],
    ['request_timeout_seconds', '30', /expected a number of seconds, got "30"/],
    ['long_request_timeout_seconds', null, /expected a number of seconds, got null/],
    ['long_request_timeout_seconds', 86401, /at most 86400, got 86401/],
  ] as const) {
    it(`refuses ${key}: ${JSON.stringify(value)}, naming the field, the range and what came`, () => {
      assert.throws(
        () => parseCpiConfig({ ...base, warden: { ...base.warden, [key]: value } }),
        (error: Error) => {
          assert.ok(error instanceof InvalidConfig);
          assert.match(error.message, new RegExp(`warden\\.${key}: `));
          assert.match(error.message, expected);
          return true;
        },
      );
    });
  }
});
