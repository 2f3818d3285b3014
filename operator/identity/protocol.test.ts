// Both sides of certify over real TLS on loopback: the proxy's client renews
// at 70 %, keeps its certificate while the CA is away, turns not-ready before
// the certificate lapses, and recovers when the CA returns.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, createIntermediateCa, issueLeaf, privateKeyPem } from '../../shared/tls.ts';
import { identityName } from '../../api/identity-names.ts';
import { IdentityClient } from '../../shared/identity-client.ts';
import { createLogger } from '../../shared/log.ts';
import { buildIdentityServer, identityMetrics } from './server.ts';

const AUD = 'identity.skein-system.cluster.local';
const waitFor = async (what: string, check: () => boolean, ms: number) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('renewal at 70 %, the CA away, not ready before expiry, recovery', async () => {
  const anchor = await createCa({ commonName: 'proto-anchor', validForMs: 86_400_000 });
  const issuer = await createIntermediateCa(anchor, { commonName: 'proto-issuer', validForMs: 86_400_000 });
  const serving = await issueLeaf(issuer, { subject: 'CN=identity', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: 86_400_000 });
  const tls = { cert: serving.cert.toString('pem') + '\n' + issuer.cert.toString('pem'), key: await privateKeyPem(serving.keys!.privateKey) };
  const start = async (port = 0) => {
    const app = buildIdentityServer({
      tls,
      deps: { review: () => Promise.resolve({ authenticated: true, username: 'system:serviceaccount:shop:web', audiences: [AUD] }), issuer: () => issuer, trustDomain: 'cluster.local', audience: AUD, lifetimeMs: 3_000, clockSkewMs: 0 },
      metrics: identityMetrics(), logger: createLogger('proto', 'silent'),
    });
    await app.listen({ port, host: '127.0.0.1' });
    return app;
  };
  let app = await start();
  const port = (app.server.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'skein-token-'));
  writeFileSync(join(dir, 'token'), 'projected-token\n');
  const issued: Date[] = [];
  let errors = 0;
  const client = new IdentityClient({
    url: `https://127.0.0.1:${port}/certify`, identity: identityName('web', 'shop', 'cluster.local'), tokenFile: join(dir, 'token'),
    trustRoots: () => Promise.resolve(anchor.cert.toString('pem')), expiryMarginMs: 500, minBackoffMs: 100, maxBackoffMs: 300,
    onCertificate: (c) => issued.push(c.notAfter), onError: () => { errors++; },
  });
  try {
    assert.equal(client.ready(), false, 'not ready before the first certificate');
    await client.start();
    assert.equal(client.ready(), true);
    await waitFor('a renewal at 70 % of the 3 s lifetime', () => issued.length >= 2, 4_000);
    assert.ok((issued[1]?.getTime() ?? 0) > (issued[0]?.getTime() ?? 0));

    await app.close();
    const before = issued.length;
    const held = client.current;
    await waitFor('failed renewals while the CA is away', () => errors >= 2, 5_000);
    assert.equal(client.current, held, 'the current certificate is kept');
    await waitFor('not ready before the certificate expires', () => !client.ready(), 5_000);
    assert.ok(Date.now() < (held?.notAfter.getTime() ?? 0), 'it turned not-ready while the certificate was still valid');

    app = await start(port);
    await waitFor('recovery when the CA returns', () => client.ready() && issued.length > before, 5_000);
  } finally {
    client.stop();
    await app.close();
  }
});
