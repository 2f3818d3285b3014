import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMeshIdentitySpec } from './meshidentity.ts';

test('an empty spec means the documented defaults', () => {
  const r = parseMeshIdentitySpec({});
  assert.ok(r.ok);
  assert.deepEqual(r.settings, {
    trustDomain: 'cluster.local',
    issuer: { secretName: 'skein-issuer', namespace: 'skein-system' },
    trustAnchors: { configMapName: 'skein-trust-anchors', namespace: 'skein-system' },
    leafLifetime: '24h', clockSkew: '1m', expiringSoonMargin: '720h',
  });
});

test('hostile values are refused, each with the field and what to write instead', () => {
  const cases: [unknown, RegExp][] = [
    [{ trustDomain: 'Evil.Example/../x' }, /spec\.trustDomain: trustDomain must be a DNS name/],
    [{ trustDomain: 'a'.repeat(300) }, /spec\.trustDomain/],
    [{ leafLifetime: '1y' }, /spec\.leafLifetime: leafLifetime must be a duration such as 24h/],
    [{ leafLifetime: '1s' }, /spec\.leafLifetime: leafLifetime must be between 10m and 720h/],
    [{ leafLifetime: '999999h' }, /between 10m and 720h/],
    [{ clockSkew: '-1m' }, /spec\.clockSkew: clockSkew must be a duration/],
    [{ clockSkew: '2h' }, /clockSkew must be between 0s and 10m/],
    [{ issuer: { secretName: '../etc/passwd' } }, /spec\.issuer\.secretName: issuer\.secretName must be a Kubernetes object name/],
    [{ trustAnchors: { namespace: 'Kube_System' } }, /spec\.trustAnchors\.namespace: namespace must be a DNS label/],
    [{ extra: true }, /spec\.\(root\): Unrecognized key/i],
    ['not an object', /spec\.\(root\)/],
  ];
  for (const [spec, message] of cases) {
    const r = parseMeshIdentitySpec(spec);
    assert.equal(r.ok, false, JSON.stringify(spec));
    if (!r.ok) assert.match(r.problems.join('\n'), message, JSON.stringify(spec));
  }
});
