import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCa, issueLeaf, privateKeyPem } from '../../shared/tls.ts';
import { createLogger } from '../../shared/log.ts';
import { buildIdentityServer, identityMetrics } from './server.ts';

test('a body that is not JSON is refused, counted as refused with reason bad_request, and nothing is reviewed', async () => {
  const ca = await createCa({ commonName: 'server-test', validForMs: 86_400_000 });
  const serving = await issueLeaf(ca, { subject: 'CN=identity', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: 86_400_000 });
  let reviews = 0;
  const metrics = identityMetrics();
  const app = buildIdentityServer({
    tls: { cert: serving.cert.toString('pem'), key: await privateKeyPem(serving.keys!.privateKey) },
    deps: { review: () => { reviews++; return Promise.resolve({ authenticated: false }); }, issuer: () => ca, trustDomain: 'cluster.local', audience: 'a', lifetimeMs: 60_000, clockSkewMs: 0 },
    metrics, logger: createLogger('server-test', 'silent'),
  });
  const res = await app.inject({ method: 'POST', url: '/certify', headers: { 'content-type': 'application/json', authorization: 'Bearer t' }, payload: '{not json' });
  assert.equal(res.statusCode, 400);
  assert.equal(res.json<{ error: string }>().error, 'bad_request');
  assert.equal(reviews, 0);
  const text = await metrics.registry.metrics();
  assert.match(text, /skein_identity_refused_total\{reason="bad_request"\} 1/);
  assert.match(text, /skein_identity_certify_total\{result="refused"\} 1/);
  await app.close();
});
