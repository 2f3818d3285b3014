import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, createIntermediateCa, issueLeaf, toPemPair, privateKeyPem } from '../../shared/tls.ts';
import { loadIssuer, splitPem, IssuerInvalid } from './issuer.ts';

const DAY = 86_400_000;
const anchor = await createCa({ commonName: 'anchor', validForMs: 365 * DAY });
const otherAnchor = await createCa({ commonName: 'other-anchor', validForMs: 365 * DAY });
const issuer = await createIntermediateCa(anchor, { commonName: 'issuer', validForMs: 30 * DAY });
const pair = await toPemPair(issuer);
const anchors = anchor.cert.toString('pem');
const invalid = (re: RegExp) => (e: unknown) => e instanceof IssuerInvalid && re.test(e.message);

test('an issuer signed by a current anchor, with its own key, loads', async () => {
  const k = await loadIssuer(pair.certPem, pair.keyPem, anchors);
  assert.equal(k.cert.subject, 'CN=issuer');
});

test('during an anchor rotation either anchor in the bundle is accepted', async () => {
  await loadIssuer(pair.certPem, pair.keyPem, otherAnchor.cert.toString('pem') + '\n' + anchors);
  assert.equal(splitPem(otherAnchor.cert.toString('pem') + anchors).length, 2);
});

test('every bad issuer is refused with what is wrong', async () => {
  await assert.rejects(loadIssuer(pair.certPem, pair.keyPem, otherAnchor.cert.toString('pem')), invalid(/not signed by any current trust anchor/));
  await assert.rejects(loadIssuer('', pair.keyPem, anchors), invalid(/needs tls.crt/));
  const stranger = await createIntermediateCa(anchor, { commonName: 'stranger', validForMs: DAY });
  await assert.rejects(loadIssuer(pair.certPem, await privateKeyPem(stranger.keys.privateKey), anchors), invalid(/not the key of tls.crt/));
  const leaf = await issueLeaf(anchor, { subject: 'CN=leaf', usages: ['server'], validForMs: DAY });
  await assert.rejects(loadIssuer(leaf.cert.toString('pem'), await privateKeyPem(leaf.keys!.privateKey), anchors), invalid(/not a CA/));
  await assert.rejects(loadIssuer(pair.certPem, pair.keyPem, anchors, new Date(Date.now() + 60 * DAY)), invalid(/expired/));
});
