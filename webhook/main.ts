// skein-webhook: the wiring. Configuration comes from the environment (the
// Deployment in manifests/ sets it); everything else is in the modules.
import { CoreV1Api, VersionApi, type V1Namespace } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { controlPlane } from '../shared/control-plane/context.ts';
import { setting } from '../shared/control-plane/settings.ts';
import { Informer } from '../shared/informer.ts';
import { buildServer } from './server.ts';
import { createMetrics } from './metrics.ts';
import { handleInject } from './inject-handler.ts';
import { Reporter } from './reporter.ts';
import { missedPods, meshedNamespaces, MISSED_MESSAGE } from './audit.ts';
import { applyCaBundle, caBundlePatch, crdCaBundlePatch, type WebhookConfigRef } from './cabundle.ts';
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

let serving: ServingCert = config.tlsDir
  ? await readServingCert(config.tlsDir)
  : await generateServingCert(serviceDnsNames(config.service, config.namespace, config.clusterDomain));

const mutating: WebhookConfigRef = { kind: 'MutatingWebhookConfiguration', name: config.mutatingConfig, webhooks: ['inject.skein.dev'] };
const validating: WebhookConfigRef = { kind: 'ValidatingWebhookConfiguration', name: cp.settings.SKEIN_VALIDATING_WEBHOOK_CONFIGURATION, webhooks: ['validate.skein.dev'] };
/** CRDs served in several versions through /convert. */
const CONVERTED_CRDS = ['trafficsplits.split.smi-spec.io'];
let caBundleApplied = false;

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

async function publishCaBundle(): Promise<void> {
  // Readiness waits for injection only; a missing CRD must not keep pods from being meshed.
  for (const crd of CONVERTED_CRDS) void applyUntilDone(`CustomResourceDefinition ${crd}`, () => crdCaBundlePatch(crd, serving.ca));
  void applyUntilDone(`${validating.kind} ${validating.name}`, () => caBundlePatch(validating, serving.ca));
  await applyUntilDone(`${mutating.kind} ${mutating.name}`, () => caBundlePatch(mutating, serving.ca));
  caBundleApplied = true;
}

const app = buildServer({
  tls: { cert: serving.cert, key: serving.key },
  metrics,
  logger: log,
  ready: () => namespacesSynced && caBundleApplied,
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

if (config.tlsDir) {
  watchServingCert(config.tlsDir, (next) => {
    // New connections get the new certificate; nothing restarts.
    app.server.setSecureContext({ cert: next.cert, key: next.key });
    serving = next;
    log.info('serving certificate reloaded');
    void publishCaBundle();
  }, (err) => log.error({ err }, 'could not reload the serving certificate; keeping the current one'));
}

/** Every 30 s: pods that missed injection get one Warning Event each per run of this process, and a gauge. */
const reported = new Set<string>();
async function audit(): Promise<void> {
  metrics.unmeshed.reset();
  for (const ns of meshedNamespaces(namespaces.list())) {
    const name = ns.metadata?.name ?? '';
    const missed = missedPods((await core.listNamespacedPod({ namespace: name })).items, ns);
    if (missed.length > 0) metrics.unmeshed.set({ namespace: name }, missed.length);
    for (const pod of missed) {
      const uid = pod.metadata?.uid ?? '';
      if (reported.has(uid)) continue;
      reported.add(uid);
      await reporter.event(pod, name, { type: 'Warning', reason: 'NotMeshed', message: `Pod ${pod.metadata?.name ?? ''} was ${MISSED_MESSAGE}` });
      log.warn({ namespace: name, pod: pod.metadata?.name }, 'pod missed injection');
    }
  }
}
void namespaces.synced.then(() => {
  const run = () => { audit().catch((err: unknown) => log.warn({ err }, 'audit of un-meshed pods failed')); };
  run();
  setInterval(run, 30_000).unref();
});

await app.listen({ port: config.port, host: '0.0.0.0' });
log.info({ port: config.port }, 'skein-webhook serving');
void publishCaBundle();

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log.info({ signal }, 'draining');
    namespaces.stop();
    void app.close().then(() => process.exit(0));
  });
}
