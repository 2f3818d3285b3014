import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateAuthorizationPolicy } from './authorizationpolicy.ts';

const policy = (spec: object) => ({ apiVersion: 'skein.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'books-readers', namespace: 'shop' }, spec });
const problemsOf = (spec: object) => validateAuthorizationPolicy(policy(spec)).join('\n');
const target = { service: 'books', port: 8080 };

test('sound policies pass: each way of naming clients, and both kinds of target', () => {
  const allows = [
    { identities: ['web.shop.serviceaccount.identity.skein-system.cluster.local', '*.ops.serviceaccount.identity.skein-system.cluster.local', 'spiffe://cluster.local/ns/shop/sa/web', '*'] },
    { serviceAccounts: [{ name: 'web' }, { name: 'admin', namespace: 'ops' }] },
    { namespaces: ['shop', 'ops'] },
    { meshTLS: true },
    { unauthenticated: { networks: ['10.0.0.0/8', '0.0.0.0/0', '::/0', 'fd00::/8'] } },
  ];
  for (const allow of allows) assert.equal(problemsOf({ target, allow }), '', JSON.stringify(allow));
  assert.equal(problemsOf({ target: { podSelector: { matchLabels: { app: 'books' } }, port: 'http' }, allow: { meshTLS: true } }), '');
  assert.equal(problemsOf({ target: { podSelector: {}, port: 9090 }, allow: { namespaces: ['monitoring'] } }), '', '{} selects every pod of the namespace');
});

test('a policy that names no one is refused with the ways to name someone', () => {
  for (const allow of [{}, { meshTLS: false }, { identities: [], namespaces: [] }, { unauthenticated: { networks: [] } }]) {
    assert.match(problemsOf({ target, allow }), /^spec\.allow: the policy names no one, so it would only deny; list identities, serviceAccounts or namespaces, set meshTLS: true, or give unauthenticated\.networks/, JSON.stringify(allow));
  }
});

test('a target names a Service or a pod selector, exactly one, and a port', () => {
  assert.match(problemsOf({ target: { service: 'books', podSelector: { matchLabels: { app: 'books' } }, port: 8080 }, allow: { meshTLS: true } }), /^spec\.target: name either service or podSelector, not both/);
  assert.match(problemsOf({ target: { port: 8080 }, allow: { meshTLS: true } }), /^spec\.target: name what the policy protects: service: <name> or podSelector/);
  assert.match(problemsOf({ target: { service: 'books' }, allow: { meshTLS: true } }), /spec\.target\.port/);
  for (const port of [0, 65536, 'HTTP', 'a-very-long-port-name', -1]) assert.match(problemsOf({ target: { service: 'books', port }, allow: { meshTLS: true } }), /spec\.target\.port/, String(port));
});

test('networks that are not CIDRs are refused with examples', () => {
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0/8', '::/129', 'fd00::/x', 'everyone', '1.2.3.4/8/8', '１０.0.0.0/8', '10.0.0.0/ 8']) {
    assert.match(problemsOf({ target, allow: { unauthenticated: { networks: ['192.168.0.0/16', bad] } } }), /spec\.allow\.unauthenticated\.networks\[1\]: ".*" is not a CIDR; write an address and a prefix length, e\.g\. 10\.0\.0\.0\/8/, bad);
  }
});

test('hostile identities, names and selectors are refused, each at its field', () => {
  const cases: [object, RegExp][] = [
    [{ identities: ['web.shop\n.evil'] }, /spec\.allow\.identities\[0\]: an identity is \* \(every meshed client\)/],
    [{ identities: ['**'] }, /spec\.allow\.identities\[0\]/],
    [{ identities: ['x'.repeat(10_000)] }, /spec\.allow\.identities\[0\]/],
    [{ identities: ['wéb.shop.serviceaccount.identity.skein-system.cluster.local'] }, /spec\.allow\.identities\[0\]/],
    [{ serviceAccounts: [{ name: '../admin' }] }, /spec\.allow\.serviceAccounts\[0\]\.name: a Kubernetes object name/],
    [{ serviceAccounts: [{ name: 'web', namespace: 'Kube_System' }] }, /spec\.allow\.serviceAccounts\[0\]\.namespace: a namespace is a DNS label/],
    [{ namespaces: ['a'.repeat(64)] }, /spec\.allow\.namespaces\[0\]/],
    [{ namespaces: Array.from({ length: 300 }, (_, i) => `ns${i}`) }, /spec\.allow\.namespaces: .*256/],
  ];
  for (const [allow, message] of cases) assert.match(problemsOf({ target, allow }), message, JSON.stringify(allow).slice(0, 80));
  assert.match(problemsOf({ target: { podSelector: { matchLabels: { 'app/../x': 'y' } }, port: 80 }, allow: { meshTLS: true } }), /spec\.target\.podSelector\.matchLabels/);
  assert.match(problemsOf({ target: { podSelector: { matchExpressions: [{ key: 'app', operator: 'Like' }] }, port: 80 }, allow: { meshTLS: true } }), /spec\.target\.podSelector\.matchExpressions\[0\]\.operator/);
});
