import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPeerIdentity, identityOf } from './mesh-tls.ts';

const ID = 'api.shop.serviceaccount.identity.skein-system.cluster.local';

test('the peer must name the identity exactly: no wildcard, no parent, no URI stand-in', () => {
  assert.equal(checkPeerIdentity(ID, { subjectaltname: `DNS:${ID}, URI:spiffe://cluster.local/ns/shop/sa/api` }), undefined);
  for (const san of ['DNS:*.shop.serviceaccount.identity.skein-system.cluster.local', 'DNS:shop.serviceaccount.identity.skein-system.cluster.local', `URI:${ID}`, '']) {
    const err = checkPeerIdentity(ID, { subjectaltname: san });
    assert.ok(err, san);
    assert.equal((err as Error & { code: string }).code, 'ERR_TLS_CERT_ALTNAME_INVALID');
  }
});

test('a workload identity is the first DNS SAN', () => {
  assert.equal(identityOf({ subjectaltname: `URI:spiffe://x, DNS:${ID}, DNS:other` }), ID);
  assert.equal(identityOf({ subjectaltname: 'URI:spiffe://x' }), undefined);
  assert.equal(identityOf(undefined), undefined);
});
