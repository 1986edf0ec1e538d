import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { errorResponse, successResponse } from '../../src/rpc/response';
import { CloudError, DiskNotAttached, NotSupported, VMCreationFailed, VMNotFound, wrapError } from '../../src/errors/cpi-errors';
import { redact, redactArguments } from '../../src/log/redact';

describe('response mapping', () => {
  it('maps each typed error to its Bosh::Clouds type and ok_to_retry', () => {
    assert.deepEqual(errorResponse(new VMCreationFailed('garden down', { okToRetry: true }), 'l').error, {
      type: 'Bosh::Clouds::VMCreationFailed',
      message: 'garden down',
      ok_to_retry: true,
    });
    assert.equal(errorResponse(new VMNotFound('x'), '').error?.type, 'Bosh::Clouds::VMNotFound');
    assert.equal(errorResponse(new DiskNotAttached('x'), '').error?.type, 'Bosh::Clouds::DiskNotAttached');
    assert.equal(errorResponse(new NotSupported('x'), '').error?.type, 'Bosh::Clouds::NotSupported');
  });

  it('turns an unexpected TypeError into a CloudError with a message', () => {
    const response = errorResponse(new TypeError("Cannot read properties of undefined (reading 'x')"), '');
    assert.deepEqual(response.error, {
      type: 'Bosh::Clouds::CloudError',
      message: "TypeError: Cannot read properties of undefined (reading 'x')",
      ok_to_retry: false,
    });
    assert.equal(errorResponse('a string', '').error?.type, 'Bosh::Clouds::CloudError');
  });

  it('keeps the type and ok_to_retry through wrapError, and adds context', () => {
    const wrapped = wrapError('Creating VM', wrapError('Creating container', new VMCreationFailed('refused', { okToRetry: true })));
    assert.equal(wrapped.message, 'Creating VM: Creating container: refused');
    assert.equal(errorResponse(wrapped, '').error?.ok_to_retry, true);
    assert.equal(errorResponse(wrapError('Step', new Error('boom')), '').error?.type, 'Bosh::Clouds::CloudError');
    assert.ok(wrapError('Step', new Error('boom')) instanceof CloudError);
  });

  it('always has result, error and log', () => {
    assert.deepEqual(successResponse(undefined, 'x'), { result: null, error: null, log: 'x' });
  });
});

describe('redact', () => {
  it('hides credentials in URLs, secret-named keys and create_vm env', () => {
    assert.deepEqual(
      redact({ mbus: 'https://mbus:pw@0.0.0.0:6868', nested: [{ password: 'p', private_key: 'k', name: 'ok' }], blobstore: { provider: 'dav', options: { user: 'u' } } }),
      { mbus: 'https://<redacted>@0.0.0.0:6868', nested: [{ password: '<redacted>', private_key: '<redacted>', name: 'ok' }], blobstore: { provider: 'dav', options: '<redacted>' } },
    );
    assert.deepEqual(redactArguments('create_vm', ['a', 's', {}, {}, [], { anything: 'x' }]), ['a', 's', {}, {}, [], '<redacted>']);
  });
});
