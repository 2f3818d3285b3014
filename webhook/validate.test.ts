import { test } from 'node:test';
import assert from 'node:assert/strict';
import { handleValidate, denialMessage } from './validate.ts';
import { validateTrafficSplit } from './validate/trafficsplit.ts';

const split = (backends: { service: string; weight: number }[], matches?: { kind: string; name: string }[]) =>
  ({ apiVersion: 'split.smi-spec.io/v1alpha4', kind: 'TrafficSplit', spec: { service: 'books', backends, ...(matches ? { matches } : {}) } });

test('a sound split passes', () => {
  assert.deepEqual(validateTrafficSplit(split([{ service: 'v1', weight: 90 }, { service: 'v2', weight: 10 }], [{ kind: 'HTTPRouteGroup', name: 'beta' }])), []);
  assert.deepEqual(validateTrafficSplit(split([{ service: 'v1', weight: 0 }, { service: 'v2', weight: 100 }])), [], 'a zero weight on one backend is a finished canary');
});

test('weights that sum to zero, a backend twice, an unknown match kind: each named with what to do', () => {
  assert.match(validateTrafficSplit(split([{ service: 'v1', weight: 0 }, { service: 'v2', weight: 0 }]))[0] ?? '', /sum to zero.*positive weight/);
  assert.match(validateTrafficSplit(split([{ service: 'v1', weight: 5 }, { service: 'v1', weight: 5 }]))[0] ?? '', /spec.backends\[1\].service: "v1" is listed twice/);
  assert.match(validateTrafficSplit(split([{ service: 'v1', weight: 1 }], [{ kind: 'Ingress', name: 'x' }]))[0] ?? '', /spec.matches\[0\].kind: "Ingress"/);
});

test('the admission answer denies with every problem, and lets other kinds and deletes through', async () => {
  const req = (object: object, operation: 'CREATE' | 'DELETE' = 'CREATE', kind = 'TrafficSplit') => ({
    uid: 'v', kind: { group: 'split.smi-spec.io', version: 'v1alpha4', kind }, operation, name: 'books', object: object as Record<string, unknown>,
  });
  const denied = await handleValidate(req(split([{ service: 'v1', weight: 0 }, { service: 'v1', weight: 0 }])));
  assert.equal(denied.allowed, false);
  assert.match(denied.status?.message ?? '', /TrafficSplit books is invalid: .*sum to zero.*listed twice/);
  assert.equal((await handleValidate(req(split([{ service: 'v1', weight: 0 }]), 'DELETE'))).allowed, true);
  assert.equal((await handleValidate(req({}, 'CREATE', 'HTTPRouteGroup'))).allowed, true);
});

test('a hostile object with thousands of problems gets a message of bounded size', () => {
  const problems = Array.from({ length: 5000 }, (_, i) => `spec.routes[${i}].name: route name is already used`);
  const message = denialMessage('ServiceProfile', 'books.shop.svc.cluster.local', problems);
  assert.match(message, /^ServiceProfile books\.shop\.svc\.cluster\.local is invalid: spec\.routes\[0\]\.name: .*; and 4990 more$/);
  assert.ok(message.length < 1000);
  assert.equal(denialMessage('AuthorizationPolicy', '', ['spec.allow: x']), 'AuthorizationPolicy is invalid: spec.allow: x', 'a generated name not known yet');
});

test('each Skein kind is routed to its rules', async () => {
  const req = (group: string, kind: string, object: Record<string, unknown>) => ({ uid: 'u', kind: { group, version: 'v1alpha1', kind }, operation: 'CREATE' as const, object });
  const sp = await handleValidate(req('skein.dev', 'ServiceProfile', { metadata: { name: 'books' }, spec: {} }));
  assert.match(sp.status?.message ?? '', /^ServiceProfile books is invalid: metadata\.name: "books" is not a Service FQDN/);
  const ap = await handleValidate(req('skein.dev', 'AuthorizationPolicy', { metadata: { name: 'p' }, spec: { target: { service: 'books', port: 80 }, allow: {} } }));
  assert.match(ap.status?.message ?? '', /names no one/);
  const mi = await handleValidate(req('skein.dev', 'MeshIdentity', { metadata: { name: 'default' }, spec: { clockSkew: '1h' } }));
  assert.match(mi.status?.message ?? '', /clockSkew must be between 0s and 10m/);
  assert.equal((await handleValidate(req('skein.dev', 'ServiceProfile', { metadata: { name: 'books.shop.svc.cluster.local' }, spec: {} }))).allowed, true);
});
