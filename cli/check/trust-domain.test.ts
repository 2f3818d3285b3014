import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Deployment } from '@kubernetes/client-node';
import { checkTrustDomain } from './trust-domain.ts';

const deployment = (name: string, trustDomain: string, audience?: string): V1Deployment => ({
  metadata: { name },
  spec: {
    selector: {},
    template: {
      spec: {
        containers: [{ name: 'c', env: [{ name: 'SKEIN_TRUST_DOMAIN', value: trustDomain }] }],
        volumes: audience ? [{ name: 'identity-token', projected: { sources: [{ serviceAccountToken: { path: 'token', audience } }] } }] : [],
      },
    },
  },
});

test('one trust domain in every Deployment, every identity token audience and the MeshIdentity: passes, naming it', () => {
  const r = checkTrustDomain([deployment('skein-webhook', 'example.org'), deployment('skein-controller', 'example.org', 'identity.skein-system.example.org')], 'example.org');
  assert.deepEqual([r.ok, r.detail], [true, 'example.org']);
});

test('the controller\'s token still for cluster.local (the #19 defect): fails, naming the place and how to fix it', () => {
  const r = checkTrustDomain([deployment('skein-identity', 'example.org'), deployment('skein-controller', 'example.org', 'identity.skein-system.cluster.local')], 'example.org');
  assert.equal(r.ok, false);
  assert.match(r.detail ?? '', /skein-controller token audience identity\.skein-system\.cluster\.local/);
  assert.match(r.hint ?? '', /--trust-domain example\.org/);
});

test('a Deployment that disagrees with the MeshIdentity fails; with no MeshIdentity yet the Deployments are compared with each other', () => {
  assert.equal(checkTrustDomain([deployment('skein-webhook', 'cluster.local')], 'example.org').ok, false);
  assert.equal(checkTrustDomain([deployment('skein-webhook', 'a.example'), deployment('skein-identity', 'b.example')], undefined).ok, false);
  assert.equal(checkTrustDomain([deployment('skein-webhook', 'a.example'), deployment('skein-identity', 'a.example')], undefined).ok, true);
});
