import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { meshedCounts, podRef, rowsFromProm } from './run.ts';

const pod = (name: string, meshed: boolean, rs?: string, hash?: string): V1Pod => ({
  metadata: {
    name, namespace: 'demo',
    labels: { ...(meshed ? { 'skein.dev/control-plane-ns': 'skein-system' } : {}), ...(hash ? { 'pod-template-hash': hash } : {}) },
    ...(rs ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs, uid: 'u', controller: true }] } : {}),
  },
  status: { phase: 'Running' },
});

test('a pod\'s Deployment is its ReplicaSet\'s name without the template hash; bare pods have none', () => {
  assert.equal(podRef(pod('web-7d9f8b6c5d-abcde', true, 'web-7d9f8b6c5d', '7d9f8b6c5d')).deployment, 'web');
  assert.equal(podRef(pod('my-app-2-7d9f8b6c5d-abcde', true, 'my-app-2-7d9f8b6c5d', '7d9f8b6c5d')).deployment, 'my-app-2');
  assert.equal(podRef(pod('solo', true)).deployment, undefined);
  // A ReplicaSet not made by a Deployment has no hash suffix.
  assert.equal(podRef(pod('rs-abcde', true, 'rs', '7d9f8b6c5d')).deployment, undefined);
});

test('MESHED counts meshed over running pods per deployment', () => {
  const counts = meshedCounts([
    pod('web-1', true, 'web-h', 'h'), pod('web-2', false, 'web-h', 'h'), pod('api-1', true, 'api-h', 'h'),
  ], 'deploy');
  assert.deepEqual(Object.fromEntries(counts), { 'demo/web': '1/2', 'demo/api': '1/1' });
});

test('Prometheus answers join into rows; NaN quantiles (no traffic) are unknown', () => {
  const m = (extra: Record<string, string> = {}) => ({ namespace: 'demo', deployment: 'web', ...extra });
  const rows = rowsFromProm({ namespace: 'namespace', name: 'deployment' }, 30, {
    requests: [{ metric: m(), value: 2 }],
    responses: [{ metric: m({ classification: 'success' }), value: 1.5 }, { metric: m({ classification: 'failure' }), value: 0.5 }],
    p50: [{ metric: m(), value: 2.5 }], p95: [{ metric: m(), value: 4 }], p99: [{ metric: m(), value: NaN }],
  });
  assert.deepEqual(rows, [{ namespace: 'demo', name: 'web', requests: 60, rps: 2, successRate: 0.75, p50: 2.5, p95: 4, p99: undefined }]);
});
