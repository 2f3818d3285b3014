// Certificates issued per second and latency: the signing core alone (CSR
// check + leaf), and end to end over HTTPS with the real TokenReview when a
// cluster is reachable (KUBECONFIG). Goal: at least 500 signings per second.
import { Agent, request } from 'undici';
import { KubeConfig, CoreV1Api } from '@kubernetes/client-node';
import { createCa, createIntermediateCa, issueLeaf, privateKeyPem } from '../shared/tls.ts';
import { createCsr } from '../shared/csr.ts';
import { identityName, spiffeId } from '../api/identity-names.ts';
import { createLogger } from '../shared/log.ts';
import { checkCsr, signLeaf } from '../operator/identity/sign.ts';
import { buildIdentityServer, identityMetrics, tokenReviewer } from '../operator/identity/server.ts';
import { percentile } from './stats.ts';

const AUD = 'identity.skein-system.cluster.local';
const anchor = await createCa({ commonName: 'bench-anchor', validForMs: 86_400_000 });
const issuer = await createIntermediateCa(anchor, { commonName: 'bench-issuer', validForMs: 86_400_000 });
const report = (label: string, n: number, secs: number, lat: number[]) => {
  const s = [...lat].sort((a, b) => a - b);
  console.log(`${label.padEnd(44)} ${(n / secs).toFixed(0).padStart(6)}/s  p50 ${percentile(s, 50).toFixed(2)} ms  p99 ${percentile(s, 99).toFixed(2)} ms`);
};

async function signingAlone(n: number): Promise<void> {
  const identity = identityName('web', 'shop', 'cluster.local');
  const csrs = Array.from({ length: n }, () => createCsr(identity));
  const lat: number[] = [];
  const t0 = performance.now();
  for (const c of csrs) {
    const s = performance.now();
    await signLeaf(issuer, await checkCsr(c.csrPem, identity), { identity, spiffeId: spiffeId('web', 'shop', 'cluster.local'), lifetimeMs: 86_400_000, clockSkewMs: 60_000 });
    lat.push(performance.now() - s);
  }
  report(`signing alone (check CSR + sign), ${n} leaves`, n, (performance.now() - t0) / 1000, lat);
}

async function endToEnd(n: number, concurrency: number): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  const ns = `bench-identity-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name: ns } } });
  try {
    for (;;) { try { await core.readNamespacedServiceAccount({ name: 'default', namespace: ns }); break; } catch { await new Promise((r) => setTimeout(r, 100)); } }
    const token = (await core.createNamespacedServiceAccountToken({ name: 'default', namespace: ns, body: { spec: { audiences: [AUD], expirationSeconds: 3600 } } })).status?.token ?? '';
    const serving = await issueLeaf(issuer, { subject: 'CN=skein-identity', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: 86_400_000 });
    const app = buildIdentityServer({
      tls: { cert: serving.cert.toString('pem') + '\n' + issuer.cert.toString('pem'), key: await privateKeyPem(serving.keys!.privateKey) },
      deps: { review: tokenReviewer(kc, AUD), issuer: () => issuer, trustDomain: 'cluster.local', audience: AUD, lifetimeMs: 86_400_000, clockSkewMs: 60_000 },
      metrics: identityMetrics(), logger: createLogger('bench', 'silent'),
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const url = `https://127.0.0.1:${(app.server.address() as { port: number }).port}/certify`;
    const dispatcher = new Agent({ connect: { ca: anchor.cert.toString('pem') }, connections: concurrency });
    const identity = identityName('default', ns, 'cluster.local');
    const bodies = Array.from({ length: n }, () => JSON.stringify({ csr: createCsr(identity).csrPem }));
    const lat: number[] = [];
    let next = 0;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const body = bodies[next++] ?? '';
        const s = performance.now();
        const res = await request(url, { method: 'POST', dispatcher, body, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
        await res.body.text();
        if (res.statusCode !== 200) throw new Error(`certify answered ${res.statusCode}`);
        lat.push(performance.now() - s);
      }
    }));
    report(`end to end over HTTPS + TokenReview, ${concurrency} at once`, n, (performance.now() - t0) / 1000, lat);
    await dispatcher.close();
    await app.close();
  } finally {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
  }
}

await signingAlone(2_000);
if (process.env.KUBECONFIG) await endToEnd(1_000, 8);
else console.log('end to end: skipped (no KUBECONFIG; run with make bench)');
