import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileSplit, parseTrafficSplit } from './split.ts';
import { cacheWith, policyObject, service, slice, NS } from './test-objects.ts';

const cfg = { trustDomain: 'cluster.local', clusterDomain: 'cluster.local' };

test('each backend gets its own endpoints on the port that maps to the root port, even when target ports differ', () => {
  const root = service('books', [{ name: 'http', port: 80, targetPort: 'http' }]);
  const c = cacheWith((c) => {
    c.applyService('added', root);
    c.applyService('added', service('books-v1', [{ name: 'http', port: 80, targetPort: 8080 }], { app: 'v1' }, '10.96.0.2'));
    // v2 exposes the root's port under another number but the same name.
    c.applyService('added', service('books-v2', [{ name: 'http', port: 8000, targetPort: 9090 }], { app: 'v2' }, '10.96.0.3'));
    c.applySlice('added', slice('books-v1', { name: 'http', port: 8080 }, ['10.1.0.1']));
    c.applySlice('added', slice('books-v2', { name: 'http', port: 9090 }, ['10.1.0.2', '10.1.0.3']));
    c.applyTrafficSplit('added', policyObject('books', { service: 'books', backends: [{ service: 'books-v1', weight: 90 }, { service: 'books-v2', weight: 10 }] }));
  });
  const split = compileSplit(c, root, 80, cfg);
  assert.deepEqual(split?.map((b) => [b.service, b.weight, b.endpoints.map((e) => `${e.ip}:${e.port}`)]), [
    [`books-v1.${NS}.svc.cluster.local:80`, 90, ['10.1.0.1:8080']],
    [`books-v2.${NS}.svc.cluster.local:8000`, 10, ['10.1.0.2:9090', '10.1.0.3:9090']],
  ]);
});

test('a missing backend stays in the split with no endpoints; the oldest valid split wins', () => {
  const root = service('books', [{ name: 'http', port: 80 }]);
  const c = cacheWith((c) => {
    c.applyService('added', root);
    c.applyTrafficSplit('added', policyObject('newer', { service: 'books', backends: [{ service: 'x', weight: 1 }] }, '2026-02-01T00:00:00Z'));
    c.applyTrafficSplit('added', policyObject('older', { service: 'books', backends: [{ service: 'gone', weight: 5 }] }, '2026-01-01T00:00:00Z'));
    c.applyTrafficSplit('added', policyObject('oldest-but-invalid', { service: 'books', backends: [{ service: 'y', weight: 0 }] }, '2025-01-01T00:00:00Z'));
  });
  assert.deepEqual(compileSplit(c, root, 80, cfg), [{ service: `gone.${NS}.svc.cluster.local:80`, weight: 5, endpoints: [] }]);
});

test('no split for a Service no TrafficSplit names; all-zero weights are refused with a reason', () => {
  const root = service('books', [{ port: 80 }]);
  assert.equal(compileSplit(cacheWith((c) => c.applyService('added', root)), root, 80, cfg), undefined);
  const zero = parseTrafficSplit(policyObject('z', { service: 'books', backends: [{ service: 'a', weight: 0 }] }));
  assert.equal(zero.ok, false);
  assert.match(zero.ok ? '' : zero.problems.join(), /every weight is 0/);
});
