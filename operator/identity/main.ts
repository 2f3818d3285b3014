// skein-identity: the wiring. Its settings come from MeshIdentity `default`
// (SKEIN_MESH_IDENTITY names another); until one is seen, and whenever the
// one seen is invalid or deleted, it keeps the last good settings, starting
// from the built-in defaults (the CRD's) with SKEIN_TRUST_DOMAIN. The issuer and trust anchors come
// from the Secret and ConfigMap the settings name. The service's own serving
// certificate is issued by the issuer for its own identity, so proxies
// verify it against the trust anchors alone.
import { KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../shared/log.ts';
import { identityName, spiffeId } from '../../api/identity-names.ts';
import { CONTROL_PLANE_NAMESPACE, IDENTITY_PORT } from '../../api/mesh-names.ts';
import { issueLeaf, privateKeyPem, type KeyedCertificate } from '../../shared/tls.ts';
import { MeshIdentitySpec, MESH_IDENTITY_NAME } from '../../api/crds/meshidentity.ts';
import { durationMs } from '../../api/duration.ts';
import { IdentityController, certifyDepsOf } from './controller.ts';
import { buildIdentityServer, identityMetrics } from './server.ts';
import { LeaderElector, kubeLeaseStore } from '../runtime/leader.ts';

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const config = {
  port: Number(env('SKEIN_IDENTITY_PORT', String(IDENTITY_PORT))),
  namespace: env('POD_NAMESPACE', CONTROL_PLANE_NAMESPACE),
  serviceAccount: env('SKEIN_SERVICE_ACCOUNT', 'skein-identity'),
  meshIdentity: env('SKEIN_MESH_IDENTITY', MESH_IDENTITY_NAME),
  // What `kubectl skein install` sets on every control-plane container; the
  // trust domain until a MeshIdentity says otherwise, and the one a created MeshIdentity gets.
  trustDomain: env('SKEIN_TRUST_DOMAIN', 'cluster.local'),
};

const log = createLogger('skein-identity');
const kc = new KubeConfig();
if (process.env.KUBECONFIG) kc.loadFromDefault(); else kc.loadFromCluster();
const metrics = identityMetrics();

/** Set once the server is built; a new issuer swaps its certificate from then on. */
const serving: { app?: ReturnType<typeof buildIdentityServer> } = {};

// Every replica signs; only the holder of Lease skein-identity writes status, Events and trust roots.
const elector = new LeaderElector({
  store: kubeLeaseStore(kc, config.namespace, 'skein-identity'), identity: env('POD_NAME', env('HOSTNAME', `skein-identity-${process.pid}`)),
  onStartedLeading: () => { log.info('leading: writing MeshIdentity status and trust roots'); controller.schedule(); },
  onStoppedLeading: () => log.warn('no longer leading: status and trust-roots writes stop'),
  onError: (err) => log.warn({ err: err instanceof Error ? err.message : String(err) }, 'leader election: cannot read or write the Lease; retrying'),
});
elector.start();

const controller = new IdentityController({
  kubeConfig: kc, meshIdentityName: config.meshIdentity, fallback: MeshIdentitySpec.parse({ trustDomain: config.trustDomain }), metrics, log, createIfMissing: true,
  isLeader: () => elector.isLeader,
  onIssuer: (issuer) => { if (serving.app) void servingTls(issuer).then((tls) => { serving.app?.server.setSecureContext(tls); }); },
});
const settings = () => controller.settings();

/** The service's own certificate, from the current issuer; re-issued whenever the issuer changes. */
async function servingTls(issuer: KeyedCertificate): Promise<{ cert: string; key: string }> {
  const { trustDomain, leafLifetime } = settings();
  const self = identityName(config.serviceAccount, config.namespace, trustDomain);
  const leaf = await issueLeaf(issuer, {
    subject: `CN=${self}`, dnsNames: [self, `skein-identity.${config.namespace}.svc`, `skein-identity.${config.namespace}.svc.cluster.local`],
    uris: [spiffeId(config.serviceAccount, config.namespace, trustDomain)], usages: ['server'], validForMs: durationMs(leafLifetime),
  });
  return { cert: leaf.cert.toString('pem') + '\n' + issuer.cert.toString('pem') + '\n', key: await privateKeyPem(leaf.keys!.privateKey) };
}

await controller.start();
let issuer: KeyedCertificate;
for (;;) {
  try { issuer = controller.issuer(); break; } catch {
    log.warn(`waiting for a valid issuer in Secret ${settings().issuer.namespace}/${settings().issuer.secretName}; create it with operator/identity/bootstrap.ts`);
    await sleep(2_000);
  }
}

const app = buildIdentityServer({
  tls: await servingTls(issuer),
  deps: certifyDepsOf(controller, kc),
  metrics, logger: log,
});
serving.app = app;
app.get('/healthz', (_req, reply) => reply.send('ok'));
await app.listen({ port: config.port, host: '0.0.0.0' });
log.info({ port: config.port, identity: identityName(config.serviceAccount, config.namespace, settings().trustDomain) }, 'skein-identity serving');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { controller.stop(); void elector.stop(true).finally(() => app.close().then(() => process.exit(0))); });
}
