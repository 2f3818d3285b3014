import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createCa, createIntermediateCa, type KeyedCertificate } from '../../shared/tls.ts';
import { desiredStatus, statusChange, eventsBetween, type Observation } from './status.ts';

const DAY = 86_400_000;
const node = (k: KeyedCertificate) => new X509Certificate(Buffer.from(k.cert.rawData));
let anchorA: X509Certificate, anchorB: X509Certificate, issuerA: X509Certificate, issuerB: X509Certificate;

before(async () => {
  const a = await createCa({ commonName: 'anchor-a', validForMs: 10 * DAY });
  const b = await createCa({ commonName: 'anchor-b', validForMs: 10 * DAY });
  [anchorA, anchorB] = [node(a), node(b)];
  issuerA = node(await createIntermediateCa(a, { commonName: 'issuer-a', validForMs: 5 * DAY }));
  issuerB = node(await createIntermediateCa(b, { commonName: 'issuer-b', validForMs: 5 * DAY }));
});

const observe = (o: Partial<Observation>): Observation => ({
  generation: 1, specProblems: [], issuerRef: 'skein-system/skein-issuer', active: issuerA, secret: { state: 'loaded' },
  anchors: [anchorA], issued: 0, rejected: 0, now: new Date(), expiringSoonMarginMs: DAY, ...o,
});
const cond = (s: ReturnType<typeof desiredStatus>, type: string) => s.conditions?.find((c) => c.type === type);

test('a loaded issuer signed by an anchor: valid, not expiring, no mismatch, fingerprints as openssl prints them', () => {
  const s = desiredStatus(undefined, observe({}));
  assert.deepEqual(s.conditions?.map((c) => [c.type, c.status, c.observedGeneration]), [
    ['IssuerValid', 'True', 1], ['IssuerExpiringSoon', 'False', 1], ['TrustAnchorMismatch', 'False', 1], ['SpecValid', 'True', 1],
  ]);
  assert.equal(s.issuer?.fingerprintSHA256, issuerA.fingerprint256);
  assert.match(s.issuer?.fingerprintSHA256 ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.deepEqual(s.trustAnchors?.map((a) => a.subject), ['CN=anchor-a']);
});

test('an issuer signed by an anchor not in the bundle is a mismatch, naming it; fixed when its anchor is added', () => {
  const bad = desiredStatus(undefined, observe({ secret: { state: 'invalid', reason: 'not signed by any current trust anchor', cert: issuerB } }));
  assert.equal(cond(bad, 'IssuerValid')?.status, 'False');
  assert.match(cond(bad, 'IssuerValid')?.message ?? '', /still signing with CN=issuer-a/);
  assert.equal(cond(bad, 'TrustAnchorMismatch')?.status, 'True');
  assert.match(cond(bad, 'TrustAnchorMismatch')?.message ?? '', /issuer CN=issuer-b .* is not signed by any anchor/);
  const fixed = desiredStatus(bad, observe({ active: issuerB, anchors: [anchorA, anchorB] }));
  assert.equal(cond(fixed, 'TrustAnchorMismatch')?.status, 'False');
  assert.deepEqual(eventsBetween(bad, fixed).map((e) => [e.type, e.reason]), [
    ['Normal', 'IssuerLoaded'], ['Normal', 'IssuerSignedByAnchor'], ['Normal', 'IssuerRotated'],
  ]);
});

test('removing the active issuer\'s anchor from the bundle is a mismatch too', () => {
  assert.equal(cond(desiredStatus(undefined, observe({ anchors: [anchorB] })), 'TrustAnchorMismatch')?.status, 'True');
});

test('IssuerExpiringSoon turns True inside the margin', () => {
  const s = desiredStatus(undefined, observe({ expiringSoonMarginMs: 6 * DAY }));
  assert.equal(cond(s, 'IssuerExpiringSoon')?.status, 'True');
  assert.match(cond(s, 'IssuerExpiringSoon')?.message ?? '', /rotate it/);
});

test('lastTransitionTime moves only when a condition\'s status changes', () => {
  const t0 = new Date('2030-01-01T00:00:00Z');
  const first = desiredStatus(undefined, observe({ now: t0, generation: 1 }));
  const same = desiredStatus(first, observe({ now: new Date(t0.getTime() + 60_000), generation: 2 }));
  assert.deepEqual(same.conditions?.map((c) => c.lastTransitionTime), first.conditions?.map(() => t0.toISOString()));
  assert.equal(cond(same, 'IssuerValid')?.observedGeneration, 2);
  const later = new Date(t0.getTime() + 120_000);
  const broken = desiredStatus(same, observe({ now: later, secret: { state: 'missing' } }));
  assert.equal(cond(broken, 'IssuerValid')?.lastTransitionTime, later.toISOString());
  assert.equal(cond(broken, 'SpecValid')?.lastTransitionTime, t0.toISOString());
});

test('no write when nothing changed; counts alone are a change that may wait; conditions are not', () => {
  const now = new Date();
  const s = desiredStatus(undefined, observe({ now }));
  assert.equal(statusChange(s, desiredStatus(s, observe({ now }))), 'none');
  assert.equal(statusChange(s, desiredStatus(s, observe({ now, issued: 5 }))), 'counts');
  assert.equal(statusChange(s, desiredStatus(s, observe({ now, specProblems: ['spec.x: bad'] }))), 'state');
});

test('a condition turning bad is one Warning; staying bad repeats nothing', () => {
  const ok = desiredStatus(undefined, observe({}));
  const bad = desiredStatus(ok, observe({ specProblems: ['spec.leafLifetime: too long'] }));
  assert.deepEqual(eventsBetween(ok, bad).map((e) => [e.type, e.reason]), [['Warning', 'InvalidSpec']]);
  assert.match(eventsBetween(ok, bad)[0]?.message ?? '', /keeps its last good settings/);
  assert.deepEqual(eventsBetween(bad, desiredStatus(bad, observe({ specProblems: ['spec.leafLifetime: too long'], issued: 3 }))), []);
});
