import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { missedPods, meshedNamespaces } from './audit.ts';

const ns = { metadata: { name: 'shop', annotations: { 'skein.dev/inject': 'enabled' } } };
const pod = (name: string, extra: Partial<V1Pod> = {}, annotations: Record<string, string> = {}): V1Pod =>
  ({ metadata: { name, annotations }, spec: { containers: [{ name: 'app' }] }, ...extra });

test('a pod the webhook never saw, in a meshed namespace, is missed; every other is not', () => {
  const pods = [
    pod('missed'),
    pod('injected', {}, { 'skein.dev/injection': 'injected' }),
    pod('skipped', {}, { 'skein.dev/injection': 'skipped' }),
    pod('optout', {}, { 'skein.dev/inject': 'disabled' }),
    pod('hostnet', { spec: { hostNetwork: true, containers: [{ name: 'app' }] } }),
    pod('done', { status: { phase: 'Succeeded' } }),
  ];
  assert.deepEqual(missedPods(pods, ns).map((p) => p.metadata?.name), ['missed']);
});

test('only namespaces that ask for the mesh are audited', () => {
  assert.deepEqual(meshedNamespaces([ns, { metadata: { name: 'plain' } }, { metadata: { name: 'x', annotations: { 'skein.dev/inject': 'disabled' } } }]).map((n) => n.metadata?.name), ['shop']);
});
