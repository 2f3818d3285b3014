// skein-webhook: the wiring. Configuration comes from the environment (the
// Deployment in manifests/ sets it); everything else is in the modules.
import { CoreV1Api, VersionApi, type V1Namespace, type V1Pod } from '@kubernetes/client-node';
import { MESHED_LABEL } from '../api/mesh-names.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { controlPlane } from '../shared/control-plane/context.ts';
import { setting } from '../shared/control-plane/settings.ts';
import { Informer } from '../shared/informer.ts';
import { buildServer } from './server.ts';
import { createMetrics } from './metrics.ts';
import { handleInject } from './inject-handler.ts';
import { Reporter } from './reporter.ts';
import { missedPods, meshedNamespaces, MISSED_MESSAGE } from './audit.ts';
import { applyCaBundle, caBundlePatch, caBundleTrusts, crdCaBundlePatch, type WebhookConfigRef } from './cabundle.ts';
import { SharedServingCert } from './serving-secret.ts';
import type { LeaderElector } from '../shared/control-plane/leader.ts';
import { handleConversion } from './conversion.ts';
import { handleValidate } from './validate.ts';
import { defaultsFromEnv, supportsNativeSidecars } from './inject/config.ts';
import { generateServingCert, readServingCert, watchServingCert, serviceDnsNames, type ServingCert } from './certs.ts';

const cp = controlPlane('webhook', {
  SKEIN_WEBHOOK_PORT: setting.port(8443),
  SKEIN_WEBHOOK_TLS_DIR: setting.optionalText(),
  SKEIN_WEBHOOK_SERVICE: setting.text('skein-webhook'),
  SKEIN_MUTATING_WEBHOOK_CONFIGURATION: setting.text('skein-webhook'),
  SKEIN_VALIDATING_WEBHOOK_CONFIGURATION: setting.text('skein-validate'),
  SKEIN_VERSION: setting.text('v0.1.0'),
  /** How long each generated serving certificate lives; rotated a third of the way in (rotation.ts). */
  SKEIN_WEBHOOK_CERT_VALIDITY: setting.duration('8760h'),
  /**
   * After SIGTERM, how long to keep serving while unready: the API server
   * keeps sending to a terminating replica until the endpoints change reaches
   * it, and with failurePolicy Fail a refused connection is a refused pod.
   */
  SKEIN_WEBHOOK_DRAIN: setting.duration('5s'),
});
const { log, kc } = cp;
const config = {
  port: cp.settings.SKEIN_WEBHOOK_PORT,
  tlsDir: cp.settings.SKEIN_WEBHOOK_TLS_DIR,
  namespace: cp.settings.POD_NAMESPACE,
  service: cp.settings.SKEIN_WEBHOOK_SERVICE,
  clusterDomain: cp.settings.SKEIN_CLUSTER_DOMAIN,
  trustDomain: cp.settings.SKEIN_TRUST_DOMAIN,
  mutatingConfig: cp.settings.SKEIN_MUTATING_WEBHOOK_CONFIGURATION,
  version: cp.settings.SKEIN_VERSION,
};

const core = kc.makeApiClient(CoreV1Api);
const metrics = createMetrics();
const serverVersion = (await kc.makeApiClient(VersionApi).getCode()).gitVersion;
const defaults = { ...defaultsFromEnv(process.env), nativeSidecar: supportsNativeSidecars(serverVersion) };
log.info({ serverVersion, nativeSidecar: defaults.nativeSidecar, proxyImage: defaults.image }, 'injection defaults');
const reporter = new Reporter(kc, log, cp.events);

const namespaces = new Informer<V1Namespace>({
  kubeConfig: kc, path: '/api/v1/namespaces', onEvent: () => undefined,
  onError: (err) => log.warn({ err }, 'namespace watch failed; retrying'),
});
namespaces.start();
let namespacesSynced = false;
void namespaces.synced.then(() => { namespacesSynced = true; });

/** From the cache; a namespace created a moment ago may not be there yet, so ask once, briefly. */
async function lookupNamespace(name: string): Promise<V1Namespace | undefined> {
  const cached = namespaces.get(name);
  if (cached) return cached;
  try {
    return await Promise.race([core.readNamespace({ name }), sleep(1_500).then(() => undefined)]);
  } catch {
    return undefined;
  }
}

const mutating: WebhookConfigRef = { kind: 'MutatingWebhookConfiguration', name: config.mutatingConfig, webhooks: ['inject.skein.dev'] };
const validating: WebhookConfigRef = { kind: 'ValidatingWebhookConfiguration', name: cp.settings.SKEIN_VALIDATING_WEBHOOK_CONFIGURATION, webhooks: ['validate.skein.dev'] };
/** CRDs served in several versions through /convert. */
const CONVERTED_CRDS = ['trafficsplits.split.smi-spec.io'];

/** Retries until the object takes the bundle: it may not exist yet (CRDs are installed separately). */
async function applyUntilDone(what: string, body: () => Parameters<typeof applyCaBundle>[1]): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await applyCaBundle(kc, body());
      log.info({ target: what }, 'caBundle applied');
      return;
    } catch (err) {
      log.warn({ err, attempt }, `could not apply the caBundle to ${what}; retrying`);
      await sleep(Math.min(30_000, 500 * 2 ** attempt));
    }
  }
}

/** The bundle into every configuration that calls this webhook; resolves once the injector's has it. */
async function publishCaBundle(bundle: string): Promise<void> {
  // A missing CRD must not hold up injection.
  for (const crd of CONVERTED_CRDS) void applyUntilDone(`CustomResourceDefinition ${crd}`, () => crdCaBundlePatch(crd, bundle));
  void applyUntilDone(`${validating.kind} ${validating.name}`, () => caBundlePatch(validating, bundle));
  await applyUntilDone(`${mutating.kind} ${mutating.name}`, () => caBundlePatch(mutating, bundle));
}

/**
 * Ready once the API server trusts the CA of what this replica serves. The
 * leader publishes; every replica checks, so a replica never takes admission
 * traffic the API server would fail on TLS.
 */
let trusted = false;
let servingCa = '';
async function confirmTrusted(ca: string): Promise<void> {
  servingCa = ca;
  for (let attempt = 0; servingCa === ca; attempt++) {
    try {
      // Only an answer changes readiness: a rotation's new certificate is trusted already, and no replica blinks.
      const answer = await caBundleTrusts(kc, mutating, ca);
      if (servingCa !== ca) return;
      trusted = answer;
      if (trusted) return;
    } catch (err) {
      if (attempt % 10 === 0) log.warn({ err }, `cannot read ${mutating.kind} ${mutating.name} to confirm its caBundle; retrying`);
    }
    await sleep(1_000);
  }
}

/** Set once the server exists: a new certificate goes to new connections, nothing restarts. */
const live: { reload?: (c: ServingCert) => void } = {};
const replace = (next: ServingCert) => {
  live.reload?.(next);
  log.info('serving certificate loaded');
  void confirmTrusted(next.ca);
};

/** The certificate the server starts with; later ones reach it through `replace`. */
let serving: ServingCert;
let shared: SharedServingCert | undefined;
let elector: LeaderElector | undefined;
let draining = false;
if (config.tlsDir) {
  // A mounted Secret (the cert-manager overlay): every replica reads the same one and publishes the same CA.
  serving = await readServingCert(config.tlsDir);
  void publishCaBundle(serving.ca);
  void confirmTrusted(serving.ca);
  watchServingCert(config.tlsDir, (next) => {
    replace(next);
    void publishCaBundle(next.ca);
  }, (err) => log.error({ err }, 'could not reload the serving certificate; keeping the current one'));
} else {
  // The shared Secret: the leader keeps it, every replica serves it.
  const first = Promise.withResolvers<ServingCert>();
  const leader = cp.elector('writing the shared serving certificate and the caBundle', { onStartedLeading: () => shared?.leadershipGained() });
  elector = leader;
  const validityMs = cp.settings.SKEIN_WEBHOOK_CERT_VALIDITY;
  shared = new SharedServingCert({
    kubeConfig: kc, namespace: config.namespace, validityMs, log,
    generate: () => generateServingCert(serviceDnsNames(config.service, config.namespace, config.clusterDomain), [], validityMs),
    isLeader: () => leader.isLeader,
    onServing: (next) => { first.resolve(next); replace(next); },
    publish: publishCaBundle,
  });
  leader.start();
  shared.start();
  serving = await first.promise;
}

const app = buildServer({
  tls: { cert: serving.cert, key: serving.key },
  metrics,
  logger: log,
  ready: () => namespacesSynced && trusted && !draining,
  draining: () => draining,
  convert: handleConversion,
  handlers: {
    '/inject': (req) => handleInject(req, {
      namespace: lookupNamespace,
      report: (pod, ns, result) => reporter.report(pod, ns, result),
      metrics,
      options: { version: config.version, defaults, mesh: { trustDomain: config.trustDomain, clusterDomain: config.clusterDomain, tokenExpirationSeconds: 3600 } },
    }),
    '/validate': handleValidate,
  },
});

live.reload = (next) => { app.server.setSecureContext({ cert: next.cert, key: next.key }); };

/**
 * Pods that missed injection, from a watch of the pods that carry no mesh
 * label (every injected pod has it), so the API server sends each such pod
 * once and then its changes; nothing is listed again. Every 30 s the cache is
 * read (in memory): a gauge per namespace, and one Warning Event per pod per
 * run of this process.
 */
const unmeshed = new Informer<V1Pod>({
  kubeConfig: kc, path: '/api/v1/pods', labelSelector: `!${MESHED_LABEL}`, onEvent: () => undefined,
  onError: (err) => log.warn({ err }, 'watch of un-meshed pods failed; retrying'),
});
const reported = new Set<string>();
async function audit(): Promise<void> {
  metrics.unmeshed.reset();
  const byNamespace = Map.groupBy(unmeshed.list(), (p) => p.metadata?.namespace ?? '');
  const seen = new Set<string>();
  for (const ns of meshedNamespaces(namespaces.list())) {
    const name = ns.metadata?.name ?? '';
    const missed = missedPods(byNamespace.get(name) ?? [], ns);
    if (missed.length > 0) metrics.unmeshed.set({ namespace: name }, missed.length);
    for (const pod of missed) {
      const uid = pod.metadata?.uid ?? '';
      seen.add(uid);
      if (reported.has(uid)) continue;
      reported.add(uid);
      await reporter.event(pod, name, { type: 'Warning', reason: 'NotMeshed', message: `Pod ${pod.metadata?.name ?? ''} was ${MISSED_MESSAGE}` });
      log.warn({ namespace: name, pod: pod.metadata?.name }, 'pod missed injection');
    }
  }
  for (const uid of reported) if (!seen.has(uid)) reported.delete(uid);
}
void namespaces.synced.then(async () => {
  unmeshed.start();
  await unmeshed.synced;
  const run = () => { audit().catch((err: unknown) => log.warn({ err }, 'audit of un-meshed pods failed')); };
  run();
  setInterval(run, 30_000).unref();
});

await app.listen({ port: config.port, host: '0.0.0.0' });
log.info({ port: config.port }, 'skein-webhook serving');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal, drainMs: cp.settings.SKEIN_WEBHOOK_DRAIN }, 'draining');
    draining = true;
    void (async () => {
      await sleep(cp.settings.SKEIN_WEBHOOK_DRAIN);
      namespaces.stop();
      unmeshed.stop();
      shared?.stop();
      // Hands the Lease on at once, so a rotation or a new replica's bundle never waits for it to expire.
      await elector?.stop();
      await app.close();
      process.exit(0);
    })();
  });
}
