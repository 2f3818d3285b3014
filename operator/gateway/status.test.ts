import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MESH_CONTROLLER_NAME } from '../../api/crds/gateway-route.ts';
import { ClusterCache } from '../discovery/cache.ts';
import { NS, service } from '../policy/test-objects.ts';
import { desiredRouteStatus, evaluateRoute, sameRouteStatus, type RouteStatusValue } from './status.ts';
import { addRoute, backend, route, svcParent } from './test-routes.ts';
import { isUsableRoute } from './validate.ts';
import { RouteStatusReconciler } from './reconciler.ts';
import { HTTP_ROUTE } from '../policy/objects.ts';
import type { PolicyObject } from '../discovery/cache.ts';

function cluster(): ClusterCache {
  const c = new ClusterCache(isUsableRoute);
  c.applyService('added', service('web', [{ name: 'http', port: 80 }], { app: 'web' }, '10.96.0.10'));
  c.applyService('added', service('web-v2', [{ name: 'http', port: 80 }], { app: 'web-v2' }, '10.96.0.11'));
  return c;
}

const brief = (e: ReturnType<typeof evaluateRoute>) => e.map((p) => [p.parentRef.name, p.accepted.status, p.accepted.reason, p.resolvedRefs.status, p.resolvedRefs.reason]);

test('a valid producer route: Accepted and ResolvedRefs True; a Gateway parentRef gets no entry of ours', () => {
  const c = cluster();
  const r = route('r', { parentRefs: [svcParent('web'), { name: 'some-gateway' }], rules: [{ backendRefs: [backend('web-v2', 80)] }] });
  assert.deepEqual(brief(evaluateRoute('HTTPRoute', r, c)), [['web', 'True', 'Accepted', 'True', 'ResolvedRefs']]);
  assert.match(evaluateRoute('HTTPRoute', r, c)[0]!.accepted.message, /producer route: every client of Service shop\/web routes by it/);
});

test('a parentRef naming no Service or no port of it: Accepted False NoMatchingParent, saying what to fix', () => {
  const c = cluster();
  const e = evaluateRoute('HTTPRoute', route('r', { parentRefs: [svcParent('nothing'), svcParent('web', { port: 81 })], rules: [{}] }), c);
  assert.deepEqual(brief(e), [['nothing', 'False', 'NoMatchingParent', 'True', 'ResolvedRefs'], ['web', 'False', 'NoMatchingParent', 'True', 'ResolvedRefs']]);
  assert.match(e[0]!.accepted.message, /Service shop\/nothing does not exist; create it or fix spec\.parentRefs\[0\]\.name/);
  assert.match(e[1]!.accepted.message, /has no port 81 \(it has 80\)/);
});

test('backendRefs and mirrors naming nothing, another namespace or another kind: ResolvedRefs False with the standard reason', () => {
  const c = cluster();
  const ev = (backendRefs: unknown[], filters: unknown[] = []) => evaluateRoute('HTTPRoute', route('r', { parentRefs: [svcParent('web')], rules: [{ backendRefs, filters }] }), c)[0]!.resolvedRefs;
  assert.equal(ev([backend('gone', 80)]).reason, 'BackendNotFound');
  assert.match(ev([backend('gone', 80)]).message, /Service shop\/gone does not exist; meanwhile the requests that would go to such a backend are answered 500/);
  assert.equal(ev([backend('web-v2', 81)]).reason, 'BackendNotFound');
  assert.equal(ev([{ name: 'web-v2', namespace: 'other', port: 80 }]).reason, 'RefNotPermitted');
  assert.equal(ev([{ group: 'example.com', kind: 'Bucket', name: 'b' }]).reason, 'InvalidKind');
  assert.equal(ev([], [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'gone', port: 80 } } }]).reason, 'BackendNotFound');
});

test('a bad regex: Accepted False UnsupportedValue, naming the field, and that the last valid version keeps routing', () => {
  const c = cluster();
  const e = evaluateRoute('HTTPRoute', route('r', { parentRefs: [svcParent('web')], rules: [{ matches: [{ path: { type: 'RegularExpression', value: '/(x+)*y' } }] }] }), c)[0]!;
  assert.equal(e.accepted.reason, 'UnsupportedValue');
  assert.match(e.accepted.message, /spec\.rules\[0\]\.matches\[0\]\.path\.value .*; until fixed, proxies keep routing by this route's last valid version/);
});

test('conflicting routes: the newer one is Accepted and told which older route wins its tied matches', () => {
  const c = cluster();
  const spec = { parentRefs: [svcParent('web')], rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/api' } }] }] };
  const older = route('older', spec, { created: '2026-01-01T00:00:00Z' });
  const newer = route('newer', spec, { created: '2026-03-01T00:00:00Z' });
  addRoute(c, 'HTTPRoute', older);
  addRoute(c, 'HTTPRoute', newer);
  assert.match(evaluateRoute('HTTPRoute', newer, c)[0]!.accepted.message, /spec\.rules\[0\]\.matches\[0\] ties with the same match of HTTPRoute shop\/older, which is older .* wins those requests/);
  assert.doesNotMatch(evaluateRoute('HTTPRoute', older, c)[0]!.accepted.message, /ties/);
});

test('status: other controllers\' parents kept, ours replaced, lastTransitionTime kept while a condition holds', () => {
  const c = cluster();
  const r = route('r', { parentRefs: [svcParent('web')], rules: [{}] }, { generation: 3 });
  const foreign = { parentRef: { name: 'gw' }, controllerName: 'example.com/gateway', conditions: [] };
  const t1 = new Date('2026-12-07T10:00:00Z');
  const first = desiredRouteStatus({ parents: [foreign] }, evaluateRoute('HTTPRoute', r, c), 3, t1);
  assert.equal(first.parents.length, 2);
  assert.deepEqual(first.parents[0], foreign);
  const ours = first.parents[1]!;
  assert.equal(ours.controllerName, MESH_CONTROLLER_NAME);
  assert.deepEqual(ours.conditions.map((x) => [x.type, x.status, x.observedGeneration, x.lastTransitionTime]), [['Accepted', 'True', 3, t1.toISOString()], ['ResolvedRefs', 'True', 3, t1.toISOString()]]);
  const again = desiredRouteStatus(first, evaluateRoute('HTTPRoute', r, c), 3, new Date('2026-12-07T11:00:00Z'));
  assert.ok(sameRouteStatus(first, again));
});

test('the reconciler writes once per change, only as leader, with a Warning event for what to fix', async () => {
  const c = cluster();
  let obj: PolicyObject = route('r', { parentRefs: [svcParent('nothing')], rules: [{}] });
  const writes: RouteStatusValue[] = [];
  const events: string[] = [];
  let leader = false;
  const rec = new RouteStatusReconciler({
    sources: [{ kind: HTTP_ROUTE, get: () => obj, list: () => [obj] }], view: c, isLeader: () => leader,
    log: { warn: () => {} } as never, now: () => new Date('2026-12-07T10:00:00Z'),
    writer: {
      patchStatus: (_k, o, s) => { writes.push(s as RouteStatusValue); obj = { ...o, status: s }; return Promise.resolve(); },
      event: (_k, _o, e) => { events.push(`${e.type} ${e.reason}`); return Promise.resolve(); },
    },
  });
  await rec.reconcile(`httproutes/${NS}/r`);
  assert.equal(writes.length, 0, 'not the leader: nothing written');
  leader = true;
  await rec.reconcile(`httproutes/${NS}/r`);
  await rec.reconcile(`httproutes/${NS}/r`);
  assert.equal(writes.length, 1);
  assert.deepEqual(events, ['Warning NoMatchingParent']);
  rec.stop();
});
