// skein-identity: the wiring. Its settings come from MeshIdentity `default`
// (SKEIN_MESH_IDENTITY names another); until one is seen, and whenever the
// one seen is invalid or deleted, it keeps the last good settings, starting
// from the built-in defaults (the CRD's) with SKEIN_TRUST_DOMAIN. The issuer and trust anchors come
// from the Secret and ConfigMap the settings name. The service's own serving
// certificate is issued by the issuer for its own identity, so proxies
// verify it against the trust anchors alone.
import { setTimeout as sleep } from 'node:timers/promises';
import { controlPlane } from '../../shared/control-plane/context.ts';
import { setting } from '../../shared/control-plane/settings.ts';
import { identityName, spiffeId } from '../../api/identity-names.ts';
import { IDENTITY_PORT, IDENTITY_SERVICE } from '../../api/mesh-names.ts';
import { issueLeaf, privateKeyPem, type KeyedCertificate } from '../../shared/tls.ts';
import { MeshIdentitySpec, MESH_IDENTITY_NAME } from '../../api/crds/meshidentity.ts';
import { durationMs } from '../../api/duration.ts';
import { IdentityController, certifyDepsOf } from './controller.ts';
import { buildIdentityServer, identityMetrics } from './server.ts';

const cp = controlPlane('identity', {
  SKEIN_IDENTITY_PORT: setting.port(IDENTITY_PORT),
  SKEIN_SERVICE_ACCOUNT: setting.text(IDENTITY_SERVICE),
  SKEIN_MESH_IDENTITY: setting.text(MESH_IDENTITY_NAME),
});
const { log, kc } = cp;
const config = {
  port: cp.settings.SKEIN_IDENTITY_PORT,
  namespace: cp.settings.POD_NAMESPACE,
  serviceAccount: cp.settings.SKEIN_SERVICE_ACCOUNT,
  meshIdentity: cp.settings.SKEIN_MESH_IDENTITY,
  // What `kubectl skein install` sets on every control-plane container; the
  // trust domain until a MeshIdentity says otherwise, and the one a created MeshIdentity gets.
  trustDomain: cp.settings.SKEIN_TRUST_DOMAIN,
  clusterDomain: cp.settings.SKEIN_CLUSTER_DOMAIN,
};
const metrics = identityMetrics();

/** Set once the server is built; a new issuer swaps its certificate from then on. */
const serving: { app?: ReturnType<typeof buildIdentityServer> } = {};

// Every replica signs; only the holder of Lease skein-identity writes status, Events and trust roots.
const elector = cp.elector('writing MeshIdentity status, Events and trust roots', { onStartedLeading: () => controller.schedule() });
elector.start();

const controller = new IdentityController({
  kubeConfig: kc, meshIdentityName: config.meshIdentity, fallback: MeshIdentitySpec.parse({ trustDomain: config.trustDomain }), metrics, log, createIfMissing: true, events: cp.events,
  isLeader: () => elector.isLeader,
  onIssuer: (issuer) => { if (serving.app) void servingTls(issuer).then((tls) => { serving.app?.server.setSecureContext(tls); }); },
});
const settings = () => controller.settings();

/** The service's own certificate, from the current issuer; re-issued whenever the issuer changes. */
async function servingTls(issuer: KeyedCertificate): Promise<{ cert: string; key: string }> {
  const { trustDomain, leafLifetime } = settings();
  const self = identityName(config.serviceAccount, config.namespace, trustDomain);
  const leaf = await issueLeaf(issuer, {
    subject: `CN=${self}`, dnsNames: [self, `${IDENTITY_SERVICE}.${config.namespace}.svc`, `${IDENTITY_SERVICE}.${config.namespace}.svc.${config.clusterDomain}`],
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
