import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createCa, createIntermediateCa } from '../../shared/tls.ts';
import { createCsr } from '../../shared/csr.ts';
import { identityName } from '../../api/identity-names.ts';
import { certify, serviceAccountOf, type CertifyDeps, type Review } from './certify.ts';
import { CertifyRefused, type RefusalCode } from './sign.ts';

const anchor = await createCa({ commonName: 'anchor', validForMs: 86_400_000 * 365 });
const issuer = await createIntermediateCa(anchor, { commonName: 'issuer', validForMs: 86_400_000 * 30 });
const AUD = 'identity.skein-system.cluster.local';
const deps = (review: Review): CertifyDeps => ({ review: () => Promise.resolve(review), issuer: () => issuer, trustDomain: 'cluster.local', audience: AUD, lifetimeMs: 86_400_000, clockSkewMs: 60_000 });
const web = identityName('web', 'shop', 'cluster.local');
const refused = (code: RefusalCode) => (err: unknown) => err instanceof CertifyRefused && err.code === code;

test('a reviewed token for shop/web gets a leaf for web.shop and the chain', async () => {
  const r = await certify('t', (createCsr(web)).csrPem, deps({ authenticated: true, username: 'system:serviceaccount:shop:web', audiences: [AUD] }));
  assert.equal(r.identity, web);
  assert.ok(new X509Certificate(r.certificate).checkIssued(new X509Certificate(r.chain[0] ?? '')));
});

test('the identity comes from the review: a token for shop/web cannot get shop/admin', async () => {
  await assert.rejects(certify('t', (createCsr(identityName('admin', 'shop', 'cluster.local'))).csrPem, deps({ authenticated: true, username: 'system:serviceaccount:shop:web', audiences: [AUD] })), refused('name_mismatch'));
});

test('tokens that are missing, refused, for another audience, or not a ServiceAccount\'s get nothing', async () => {
  const csr = (createCsr(web)).csrPem;
  await assert.rejects(certify('', csr, deps({ authenticated: true })), refused('token_missing'));
  await assert.rejects(certify('t', csr, deps({ authenticated: false, error: 'token has expired' })), (e: unknown) => refused('token_invalid')(e) && /expired/.test((e as Error).message));
  await assert.rejects(certify('t', csr, deps({ authenticated: true, username: 'system:serviceaccount:shop:web', audiences: ['https://kubernetes.default.svc.cluster.local'] })), refused('token_invalid'));
  await assert.rejects(certify('t', csr, deps({ authenticated: true, username: 'jane', audiences: [AUD] })), refused('token_not_service_account'));
});

test('ServiceAccount user names parse; anything else does not', () => {
  assert.deepEqual(serviceAccountOf('system:serviceaccount:shop:web-v2'), { namespace: 'shop', name: 'web-v2' });
  assert.throws(() => serviceAccountOf('system:serviceaccount:shop'), CertifyRefused);
  assert.throws(() => serviceAccountOf('system:serviceaccount:Shop:web'), CertifyRefused);
  assert.throws(() => serviceAccountOf(undefined), CertifyRefused);
});
