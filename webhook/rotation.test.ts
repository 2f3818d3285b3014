import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { generateServingCert, type ServingCert } from './certs.ts';
import { advance, caBundle, fromSecretData, nextStep, rotationDue, toSecretData, type ServingState } from './rotation.ts';

const HOUR = 3_600_000;
const V = 90 * HOUR;

/**
 * Certificates carry real dates, so the test's clock is virtual: a
 * generation "made at" virtual time t is valid until t + V, as it would be.
 */
function generator(clock: { now: number }) {
  return () => generateServingCert(['skein-webhook.skein-system.svc'], [], clock.now + V - Date.now());
}

/** Whether a TLS client trusting `bundle` accepts `served` (the leaf verifies against one of its CAs). */
function accepts(bundle: string, served: ServingCert): boolean {
  const leaf = new X509Certificate(served.cert);
  const cas = bundle.split(/(?<=-----END CERTIFICATE-----)\n/).filter((c) => c.includes('BEGIN'));
  return cas.some((ca) => leaf.verify(new X509Certificate(ca).publicKey));
}

test('no state: create two generations, current and next, both trusted from the start', async () => {
  const clock = { now: Date.now() };
  assert.equal(nextStep(undefined, clock.now, V), 'create');
  const state = await advance(undefined, 'create', generator(clock));
  assert.ok(state);
  assert.equal(nextStep(state, clock.now, V), 'keep');
  const bundle = caBundle(state, clock.now);
  assert.ok(accepts(bundle, state.current) && accepts(bundle, state.next));
});

test('rotations over three validities: whatever a replica serves, before or after it sees a rotation, every bundle published around it trusts', async () => {
  const clock = { now: Date.now() };
  const generate = generator(clock);
  let state = (await advance(undefined, 'create', generate))!;
  let rotations = 0;
  // Step an hour at a time; each rotation is checked against the states either side of it.
  for (let t = 0; t < 3 * V; t += HOUR) {
    clock.now += HOUR;
    const step = nextStep(state, clock.now, V);
    assert.notEqual(step, 'create', `at ${t / HOUR} h nothing should have expired`);
    if (step === 'keep') continue;
    const before = state;
    state = (await advance(before, step, generate))!;
    rotations++;
    // The API server may still hold the old bundle while replicas already serve the new current, and the reverse.
    for (const bundle of [caBundle(before, clock.now), caBundle(state, clock.now)]) {
      assert.ok(accepts(bundle, before.current), 'a replica that has not seen the rotation yet');
      assert.ok(accepts(bundle, state.current), 'a replica that has');
    }
    assert.equal(state.current.cert, before.next.cert, 'what serves after a rotation was trusted a whole rotation before');
    assert.equal(state.previousCa, before.current.ca);
    assert.ok(new X509Certificate(state.current.cert).validTo, 'served leaves are valid');
    assert.ok(new Date(new X509Certificate(state.current.cert).validTo).getTime() > clock.now + V / 3 - HOUR, 'a served leaf has a third of its life left at least');
  }
  assert.ok(rotations >= 8 && rotations <= 9, `a rotation every third of a validity: ${rotations}`);
  assert.ok(Math.abs(rotationDue(state, V) - (clock.now + V / 3)) <= 2 * HOUR);
});

test('the bundle drops a CA once it has expired, and holds each CA once', async () => {
  const clock = { now: Date.now() };
  const state = (await advance(undefined, 'create', generator(clock)))!;
  const withOld: ServingState = { ...state, previousCa: state.current.ca };
  assert.equal(caBundle(withOld, clock.now).match(/BEGIN CERTIFICATE/g)?.length, 2);
  assert.equal(caBundle(state, clock.now + V + HOUR), '');
});

test('a cluster off for longer than a validity starts over: nothing in the old state could be served', async () => {
  const clock = { now: Date.now() };
  const state = (await advance(undefined, 'create', generator(clock)))!;
  assert.equal(nextStep(state, clock.now + V + HOUR, V), 'create');
});

test('the Secret round-trips the state; a broken Secret is refused with what is wrong, an empty one is no state', async () => {
  const clock = { now: Date.now() };
  const generate = generator(clock);
  const created = (await advance(undefined, 'create', generate))!;
  clock.now += V / 2;
  const rotated = (await advance(created, 'rotate', generate))!;
  assert.deepEqual(fromSecretData(toSecretData(rotated)), rotated);
  assert.deepEqual(fromSecretData(toSecretData(created)), created);
  assert.equal(fromSecretData(undefined), undefined);
  assert.equal(fromSecretData({}), undefined);
  const data = toSecretData(created);
  assert.throws(() => fromSecretData({ ...data, 'next-tls.key': '' }), { code: 'serving_secret_invalid', message: /next generation lacks/ });
  assert.throws(() => fromSecretData({ ...data, 'tls.crt': Buffer.from('not a certificate').toString('base64') }), { code: 'serving_secret_invalid', message: /not a PEM certificate/ });
  assert.throws(() => fromSecretData({ ...data, 'ca.crt': data['next-ca.crt']! }), { code: 'serving_secret_invalid', message: /current certificate was not signed by the current CA/ });
  assert.throws(() => fromSecretData({ ...data, 'tls.key': data['next-tls.key']! }), { code: 'serving_secret_invalid', message: /current key does not belong/ });
});

test('a validity lowered after the state was made: due at once, and the new next has the new validity', async () => {
  const clock = { now: Date.now() };
  const long = (await advance(undefined, 'create', () => generateServingCert(['skein-webhook.skein-system.svc'], [], 100 * V)))!;
  assert.equal(nextStep(long, clock.now, V), 'rotate');
  const rotated = (await advance(long, 'rotate', generator(clock)))!;
  assert.equal(nextStep(rotated, clock.now, V), 'keep');
  assert.ok(Math.abs(rotationDue(rotated, V) - (clock.now + V / 3)) <= HOUR);
});
