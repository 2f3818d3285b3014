import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../shared/log.ts';
import { parseServiceProfileSpec } from '../../api/crds/serviceprofile.ts';
import type { PolicyStatusValue } from '../../api/crds/conditions.ts';
import { FakeClock, settle } from '../../shared/control-plane/clock.ts';
import type { ClusterCache, PolicyObject } from '../discovery/cache.ts';
import { AUTHORIZATION_POLICY, SERVICE_PROFILE, TRAFFIC_SPLIT, type PolicyKind } from './objects.ts';
import { PolicyReconciler, policyKey, type StatusWriter } from './reconciler.ts';
import type { PolicyEvent } from './status.ts';
import { cacheWith, policyObject, service, NS } from './test-objects.ts';

/** Objects by kind, as the informers would hold them; the fake writer stores status back into them like the API server. */
function world(cache: ClusterCache) {
  const objects = new Map<string, PolicyObject>();
  const events: PolicyEvent[] = [];
  let conflicts = 0;
  const writer: StatusWriter = {
    patchStatus: (kind, obj, status) => {
      if (conflicts > 0) { conflicts--; return Promise.reject(new Error('409 Conflict: the object has been modified')); }
      const key = policyKey(kind, obj.metadata?.namespace ?? '', obj.metadata?.name ?? '');
      objects.set(key, { ...obj, status: JSON.parse(JSON.stringify(status)) as PolicyStatusValue });
      return Promise.resolve();
    },
    event: (_k, _o, e) => { events.push(e); return Promise.resolve(); },
  };
  const source = (kind: PolicyKind) => ({
    kind,
    get: (ns: string, name: string) => objects.get(policyKey(kind, ns, name)),
    list: () => [...objects.entries()].filter(([k]) => k.startsWith(`${kind.plural}/`)).map(([, o]) => o),
  });
  const clock = new FakeClock();
  let leader = true;
  let now = new Date('2026-05-01T00:00:00Z');
  const r = new PolicyReconciler({
    sources: [source(SERVICE_PROFILE), source(TRAFFIC_SPLIT), source(AUTHORIZATION_POLICY)], view: cache, clusterDomain: 'cluster.local', writer,
    isLeader: () => leader, log: createLogger('test', 'silent'), now: () => now, queue: { clock },
  });
  return {
    r, objects, events, clock,
    put: (kind: PolicyKind, o: PolicyObject) => { objects.set(policyKey(kind, NS, o.metadata?.name ?? ''), o); },
    status: (kind: PolicyKind, name: string) => objects.get(policyKey(kind, NS, name))?.status,
    conflictNext: () => { conflicts = 1; },
    setLeader: (v: boolean) => { leader = v; },
    tick: (ms: number) => { now = new Date(now.getTime() + ms); },
  };
}
const cond = (s: PolicyStatusValue | undefined, type: string) => s?.conditions?.find((c) => c.type === type);

test('an invalid ServiceProfile is not Accepted, with the webhook\'s message, and a Warning event', async () => {
  const w = world(cacheWith((c) => c.applyService('added', service('books', [{ port: 80 }]))));
  const spec = { routes: [{ name: 'r', condition: { pathRegex: '(unclosed' } }] };
  w.put(SERVICE_PROFILE, policyObject(`books.${NS}.svc.cluster.local`, spec, undefined, 3));
  await w.r.reconcile(policyKey(SERVICE_PROFILE, NS, `books.${NS}.svc.cluster.local`));
  const s = w.status(SERVICE_PROFILE, `books.${NS}.svc.cluster.local`);
  const webhookSays = parseServiceProfileSpec(spec);
  assert.equal(webhookSays.ok, false);
  assert.equal(cond(s, 'Accepted')?.status, 'False');
  assert.ok(cond(s, 'Accepted')?.message.includes(webhookSays.ok ? '' : webhookSays.problems[0] ?? 'x'));
  assert.equal(cond(s, 'ResolvedRefs')?.status, 'True');
  assert.equal(s?.observedGeneration, 3);
  assert.equal(cond(s, 'Accepted')?.observedGeneration, 3);
  assert.deepEqual(w.events.map((e) => [e.type, e.reason]), [['Warning', 'InvalidSpec']]);
});

test('a TrafficSplit with a missing backend: ResolvedRefs False and a Warning; once it exists, True and a Normal event', async () => {
  const cache = cacheWith((c) => { c.applyService('added', service('books', [{ name: 'http', port: 80 }])); c.applyService('added', service('books-v1', [{ name: 'http', port: 80 }])); });
  const w = world(cache);
  w.put(TRAFFIC_SPLIT, policyObject('books', { service: 'books', backends: [{ service: 'books-v1', weight: 90 }, { service: 'books-v2', weight: 10 }] }));
  const key = policyKey(TRAFFIC_SPLIT, NS, 'books');
  await w.r.reconcile(key);
  const first = w.status(TRAFFIC_SPLIT, 'books');
  assert.equal(cond(first, 'Accepted')?.status, 'True');
  assert.equal(cond(first, 'ResolvedRefs')?.reason, 'BackendNotFound');
  assert.match(cond(first, 'ResolvedRefs')?.message ?? '', new RegExp(`${NS}/books-v2 does not exist`));
  assert.deepEqual(w.events.map((e) => [e.type, e.reason]), [['Warning', 'BackendNotFound']]);

  w.tick(60_000);
  await w.r.reconcile(key);
  assert.equal(w.r.writes, 1, 'nothing changed: no write, no event');
  assert.equal(w.events.length, 1);

  cache.applyService('added', service('books-v2', [{ name: 'http', port: 80 }]));
  await w.r.reconcile(key);
  const after = w.status(TRAFFIC_SPLIT, 'books');
  assert.equal(cond(after, 'ResolvedRefs')?.status, 'True');
  assert.notEqual(cond(after, 'ResolvedRefs')?.lastTransitionTime, cond(first, 'ResolvedRefs')?.lastTransitionTime, 'a transition moves the time');
  assert.equal(cond(after, 'Accepted')?.lastTransitionTime, cond(first, 'Accepted')?.lastTransitionTime, 'no transition keeps it');
  assert.deepEqual(w.events.map((e) => [e.type, e.reason]), [['Warning', 'BackendNotFound'], ['Normal', 'ResolvedRefs']]);
});

test('an AuthorizationPolicy naming a port its Service lacks is not resolved', async () => {
  const w = world(cacheWith((c) => c.applyService('added', service('books', [{ name: 'http', port: 80 }]))));
  w.put(AUTHORIZATION_POLICY, policyObject('ap', { target: { service: 'books', port: 'grpc' }, allow: { meshTLS: true } }));
  await w.r.reconcile(policyKey(AUTHORIZATION_POLICY, NS, 'ap'));
  const s = w.status(AUTHORIZATION_POLICY, 'ap');
  assert.equal(cond(s, 'Accepted')?.status, 'True');
  assert.equal(cond(s, 'ResolvedRefs')?.reason, 'PortNotFound');
  assert.match(cond(s, 'ResolvedRefs')?.message ?? '', /has no port grpc \(it has 80 \(http\)\)/);
});

test('a replica that does not lead writes nothing; a conflicting write is retried by the queue', async () => {
  const w = world(cacheWith());
  w.put(AUTHORIZATION_POLICY, policyObject('ap', { target: { podSelector: {}, port: 8080 }, allow: { meshTLS: true } }));
  w.setLeader(false);
  w.r.enqueueAll();
  await settle();
  assert.equal(w.r.writes, 0);
  w.setLeader(true);
  w.conflictNext();
  w.r.enqueueAll();
  await settle();
  assert.equal(w.r.writes, 0, 'the first write conflicted');
  await w.clock.advance(1_000);
  assert.equal(w.r.writes, 1, 'retried after the backoff');
  assert.equal(cond(w.status(AUTHORIZATION_POLICY, 'ap'), 'ResolvedRefs')?.status, 'True');
  w.r.stop();
});
