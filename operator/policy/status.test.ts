import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluateServiceProfile, evaluateTrafficSplit, eventsBetween, desiredStatus, sameStatus } from './status.ts';
import { cacheWith, policyObject, service, NS } from './test-objects.ts';

test('a ServiceProfile named for another namespace or cluster domain is not Accepted, with the name proxies look for', () => {
  const c = cacheWith((c) => c.applyService('added', service('books', [{ port: 80 }])));
  const e = evaluateServiceProfile(policyObject('books.elsewhere.svc.cluster.local', {}), c, 'cluster.local');
  assert.equal(e.accepted.status, 'False');
  assert.match(e.accepted.message, new RegExp(`proxies look for books\\.${NS}\\.svc\\.cluster\\.local in namespace ${NS}`));
  const bad = evaluateServiceProfile(policyObject('Not A Name', {}), c, 'cluster.local');
  assert.equal(bad.resolvedRefs.reason, 'InvalidName');
  const missing = evaluateServiceProfile(policyObject(`authors.${NS}.svc.cluster.local`, {}), c, 'cluster.local');
  assert.equal(missing.accepted.status, 'True');
  assert.equal(missing.resolvedRefs.reason, 'ServiceNotFound');
});

test('a backend lacking the root port is named with the ports it has', () => {
  const c = cacheWith((c) => {
    c.applyService('added', service('books', [{ name: 'http', port: 80 }]));
    c.applyService('added', service('books-v2', [{ name: 'grpc', port: 9000 }]));
  });
  const e = evaluateTrafficSplit(policyObject('s', { service: 'books', backends: [{ service: 'books-v2', weight: 1 }] }), c);
  assert.equal(e.resolvedRefs.reason, 'PortNotFound');
  assert.match(e.resolvedRefs.message, /books-v2 has no port 80 or named http \(it has 9000 \(grpc\)\)/);
});

test('BackendNotFound says what the proxies do: the share goes to backends with endpoints, nothing fails; its/their agree', () => {
  const c = cacheWith((c) => { c.applyService('added', service('books', [{ name: 'http', port: 80 }])); c.applyService('added', service('books-v1', [{ name: 'http', port: 80 }])); });
  const one = evaluateTrafficSplit(policyObject('s', { service: 'books', backends: [{ service: 'books-v1', weight: 9 }, { service: 'books-v2', weight: 1 }] }), c);
  assert.equal(one.resolvedRefs.reason, 'BackendNotFound');
  assert.equal(one.resolvedRefs.message, `backend Service ${NS}/books-v2 does not exist; the proxies send its share of the traffic to the backends that have endpoints (the root Service's own when none has) until it is created`);
  const two = evaluateTrafficSplit(policyObject('s', { service: 'books', backends: [{ service: 'books-v2', weight: 1 }, { service: 'books-v3', weight: 1 }] }), c);
  assert.equal(two.resolvedRefs.message, `backend Services ${NS}/books-v2, ${NS}/books-v3 do not exist; the proxies send their share of the traffic to the backends that have endpoints (the root Service's own when none has) until they are created`);
  assert.doesNotMatch(one.resolvedRefs.message + two.resolvedRefs.message, /fail/);

  const profile = (authorities: string[]) => evaluateServiceProfile(policyObject(`books.${NS}.svc.cluster.local`, { dstOverrides: authorities.map((a) => ({ authority: a, weight: 1 })) }), c, 'cluster.local');
  assert.match(profile([`books-v1.${NS}.svc.cluster.local:80`, `gone.${NS}.svc.cluster.local:80`]).resolvedRefs.message, /Service shop\/gone does not exist; the proxies send its share of the traffic to the overrides that have endpoints \(the Service's own when none has\) until it is created$/);
  assert.match(profile([`gone.${NS}.svc.cluster.local:80`, `lost.${NS}.svc.cluster.local:80`]).resolvedRefs.message, /Service shop\/lost does not exist; the proxies send their share of the traffic to the overrides that have endpoints \(the Service's own when none has\) until they are created$/);
});

test('status equality ignores field order; events fire on a change of what to fix, not on a repeat', () => {
  const c = cacheWith();
  const e = evaluateTrafficSplit(policyObject('s', { service: 'books', backends: [{ service: 'a', weight: 1 }] }), c);
  const s1 = desiredStatus(undefined, e, 1, new Date('2026-01-01T00:00:00Z'));
  const s2 = desiredStatus(s1, e, 1, new Date('2026-01-02T00:00:00Z'));
  assert.ok(sameStatus(s1, s2), 'nothing changed: the same status, transition times kept');
  const reordered = JSON.parse(JSON.stringify({ conditions: [...(s1.conditions ?? [])].reverse(), observedGeneration: s1.observedGeneration })) as typeof s1;
  assert.ok(sameStatus(reordered, s2));
  assert.deepEqual(eventsBetween(undefined, s1).map((x) => x.reason), ['ServiceNotFound']);
  assert.deepEqual(eventsBetween(s1, s2), []);
});
