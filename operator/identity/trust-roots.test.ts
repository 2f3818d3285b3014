import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1ConfigMap, V1Namespace, V1Pod } from '@kubernetes/client-node';
import { meshedNamespaces, staleNamespaces, trustRootsConfigMap } from './trust-roots.ts';

const ns = (name: string, annotations: Record<string, string> = {}, phase = 'Active'): V1Namespace => ({ metadata: { name, annotations }, status: { phase } });
const meshedPod = (namespace: string): V1Pod => ({ metadata: { name: 'p', namespace, labels: { 'skein.dev/control-plane-ns': 'skein-system' } } });

test('namespaces that ask for injection or hold meshed pods get the trust roots; others, and terminating ones, do not', () => {
  const namespaces = [ns('shop', { 'skein.dev/inject': 'enabled' }), ns('legacy'), ns('pinned'), ns('off', { 'skein.dev/inject': 'disabled' }), ns('gone', { 'skein.dev/inject': 'enabled' }, 'Terminating')];
  assert.deepEqual(meshedNamespaces(namespaces, [meshedPod('pinned'), meshedPod('gone'), meshedPod('unknown')]), ['pinned', 'shop']);
});

test('only missing, outdated or unlabelled ConfigMaps are applied again', () => {
  const bundle = '-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n';
  const current = trustRootsConfigMap('a', bundle);
  const old: V1ConfigMap = trustRootsConfigMap('b', 'old');
  const foreign: V1ConfigMap = { metadata: { name: 'skein-trust-roots', namespace: 'c' }, data: { 'ca-bundle.crt': bundle } };
  assert.deepEqual(staleNamespaces(['a', 'b', 'c', 'd'], [current, old, foreign], bundle), ['b', 'c', 'd']);
  assert.equal(current.metadata?.name, 'skein-trust-roots');
  assert.equal(current.metadata?.labels?.['app.kubernetes.io/managed-by'], 'skein-identity');
});
