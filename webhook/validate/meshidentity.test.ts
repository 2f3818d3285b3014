import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateMeshIdentity } from './meshidentity.ts';
import { parseMeshIdentitySpec } from '../../api/crds/meshidentity.ts';

const identity = (spec: object) => ({ apiVersion: 'skein.dev/v1alpha1', kind: 'MeshIdentity', metadata: { name: 'default' }, spec });

test('ranges the CRD cannot express are refused with the words the identity service uses', () => {
  const cases: [object, RegExp][] = [
    [{ leafLifetime: '1m' }, /^spec\.leafLifetime: leafLifetime must be between 10m and 720h$/],
    [{ leafLifetime: '721h' }, /between 10m and 720h/],
    [{ clockSkew: '11m' }, /^spec\.clockSkew: clockSkew must be between 0s and 10m$/],
    [{ expiringSoonMargin: '30m' }, /^spec\.expiringSoonMargin: expiringSoonMargin must be between 1h and 8760h$/],
    [{ expiringSoonMargin: '8761h' }, /between 1h and 8760h/],
  ];
  for (const [spec, message] of cases) {
    const problems = validateMeshIdentity(identity(spec));
    assert.match(problems.join('\n'), message, JSON.stringify(spec));
    const controller = parseMeshIdentitySpec(spec);
    assert.deepEqual(problems, controller.ok ? [] : controller.problems, 'the same message as the controller');
  }
});

test('values inside the ranges, and the defaults, pass', () => {
  assert.deepEqual(validateMeshIdentity(identity({})), []);
  assert.deepEqual(validateMeshIdentity(identity({ leafLifetime: '10m', clockSkew: '0s', expiringSoonMargin: '8760h' })), []);
  assert.deepEqual(validateMeshIdentity({ metadata: { name: 'default' } }), [], 'no spec at all means the defaults');
});
