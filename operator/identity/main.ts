// skein-identity: the wiring. The issuer comes from Secret skein-issuer, the
// trust anchors from ConfigMap skein-trust-anchors (both in the control-plane
// namespace); the service's own serving certificate is issued by the issuer
// for its own identity, so proxies verify it against the trust anchors alone.
import { KubeConfig, CoreV1Api } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../shared/log.ts';
import { identityName, spiffeId, IDENTITY_NAMESPACE } from '../../shared/identity.ts';
import { issueLeaf, privateKeyPem, type KeyedCertificate } from '../../shared/tls.ts';
import { IssuerSource } from './issuer.ts';
import { buildIdentityServer, identityMetrics, tokenReviewer } from './server.ts';

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const config = {
  port: Number(env('SKEIN_IDENTITY_PORT', '8080')),
  namespace: env('POD_NAMESPACE', IDENTITY_NAMESPACE),
  trustDomain: env('SKEIN_TRUST_DOMAIN', 'cluster.local'),
  issuerSecret: env('SKEIN_ISSUER_SECRET', 'skein-issuer'),
  anchorsConfigMap: env('SKEIN_TRUST_ANCHORS_CONFIGMAP', 'skein-trust-anchors'),
  serviceAccount: env('SKEIN_SERVICE_ACCOUNT', 'skein-identity'),
  leafLifetimeMs: Number(env('SKEIN_LEAF_LIFETIME_SECONDS', '86400')) * 1000,
  clockSkewMs: Number(env('SKEIN_CLOCK_SKEW_SECONDS', '60')) * 1000,
};

const log = createLogger('skein-identity');
const kc = new KubeConfig();
if (process.env.KUBECONFIG) kc.loadFromDefault(); else kc.loadFromCluster();
const core = kc.makeApiClient(CoreV1Api);
const metrics = identityMetrics();

/** The anchors, re-read on each issuer load: an issuer is only accepted against the current bundle. */
let anchors = '';
async function readAnchors(): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      const cm = await core.readNamespacedConfigMap({ name: config.anchorsConfigMap, namespace: config.namespace });
      const bundle = cm.data?.['ca-bundle.crt'] ?? '';
      if (bundle.includes('BEGIN CERTIFICATE')) return bundle;
      log.error({ configMap: config.anchorsConfigMap }, 'the trust-anchor ConfigMap has no ca-bundle.crt');
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err), attempt }, `cannot read ConfigMap ${config.anchorsConfigMap}; create it with operator/identity/bootstrap.ts`);
    }
    await sleep(Math.min(30_000, 500 * 2 ** attempt));
  }
}
anchors = await readAnchors();

const self = identityName(config.serviceAccount, config.namespace, config.trustDomain);
/** Set once the server is built; the issuer watch swaps its certificate from then on. */
const serving: { app?: ReturnType<typeof buildIdentityServer> } = {};

/** The service's own certificate, from the current issuer; re-issued whenever the issuer changes. */
async function servingTls(issuer: KeyedCertificate): Promise<{ cert: string; key: string }> {
  const leaf = await issueLeaf(issuer, {
    subject: `CN=${self}`, dnsNames: [self, `skein-identity.${config.namespace}.svc`, `skein-identity.${config.namespace}.svc.cluster.local`],
    uris: [spiffeId(config.serviceAccount, config.namespace, config.trustDomain)], usages: ['server'], validForMs: config.leafLifetimeMs,
  });
  return { cert: leaf.cert.toString('pem') + '\n' + issuer.cert.toString('pem') + '\n', key: await privateKeyPem(leaf.keys!.privateKey) };
}

const source = new IssuerSource(kc, config.namespace, config.issuerSecret, () => anchors, {
  onLoaded: (issuer) => {
    metrics.issuerExpiry.set(issuer.cert.notAfter.getTime() / 1000);
    log.info({ issuer: issuer.cert.subject, notAfter: issuer.cert.notAfter }, 'issuer loaded');
    if (serving.app) void servingTls(issuer).then((tls) => { serving.app?.server.setSecureContext(tls); });
  },
  onRejected: (err) => log.error({ reason: err.message }, 'issuer update refused; still signing with the previous issuer'),
});
await source.start();
let issuer: KeyedCertificate;
for (;;) {
  try { issuer = source.current(); break; } catch { log.warn(`waiting for a valid issuer in Secret ${config.issuerSecret}`); await sleep(2_000); }
}

const app = buildIdentityServer({
  tls: await servingTls(issuer),
  deps: { review: tokenReviewer(kc, `identity.${IDENTITY_NAMESPACE}.${config.trustDomain}`), issuer: () => source.current(), trustDomain: config.trustDomain, audience: `identity.${IDENTITY_NAMESPACE}.${config.trustDomain}`, lifetimeMs: config.leafLifetimeMs, clockSkewMs: config.clockSkewMs },
  metrics, logger: log,
});
serving.app = app;
app.get('/healthz', (_req, reply) => reply.send('ok'));
await app.listen({ port: config.port, host: '0.0.0.0' });
log.info({ port: config.port, identity: self }, 'skein-identity serving');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { source.stop(); void app.close().then(() => process.exit(0)); });
}
