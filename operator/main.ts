// skein-controller: the wiring. Informers fill the discovery cache; the
// discovery server streams resolutions to proxies over mTLS with a
// certificate from the identity service, like any proxy's; an admin port
// serves /metrics, /healthz and /readyz. Later reconcilers join here.
import { createServer as createHttpServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { KubeConfig, type KubernetesObject, type V1EndpointSlice, type V1Pod, type V1Service } from '@kubernetes/client-node';
import { Counter, collectDefaultMetrics } from 'prom-client';
import { createLogger } from '../shared/log.ts';
import { Informer, type EventType } from '../shared/informer.ts';
import { IdentityClient } from '../shared/identity-client.ts';
import { identityName, IDENTITY_NAMESPACE } from '../shared/identity.ts';
import { DISCOVERY_PORT } from '../shared/discovery-protocol.ts';
import { ClusterCache } from './discovery/cache.ts';
import { DiscoveryHub } from './discovery/hub.ts';
import { discoveryMetrics } from './discovery/metrics.ts';
import { createDiscoveryServer, tlsOptions } from './discovery/server.ts';

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const namespace = env('POD_NAMESPACE', IDENTITY_NAMESPACE);
const clusterDomain = env('SKEIN_CLUSTER_DOMAIN', 'cluster.local');
const config = {
  discoveryPort: Number(env('SKEIN_DISCOVERY_PORT', String(DISCOVERY_PORT))),
  adminPort: Number(env('SKEIN_ADMIN_PORT', '9996')),
  trustDomain: env('SKEIN_TRUST_DOMAIN', 'cluster.local'),
  clusterDomain,
  serviceAccount: env('SKEIN_SERVICE_ACCOUNT', 'skein-controller'),
  // The Service's DNS name by default; the kubelet's SKEIN_IDENTITY_SERVICE_HOST where there is no cluster DNS.
  identityAddr: env('SKEIN_IDENTITY_ADDR', process.env.SKEIN_IDENTITY_SERVICE_HOST
    ? `${process.env.SKEIN_IDENTITY_SERVICE_HOST}:${env('SKEIN_IDENTITY_SERVICE_PORT', '8080')}`
    : `skein-identity.${namespace}.svc.${clusterDomain}:8080`),
  tokenFile: env('SKEIN_IDENTITY_TOKEN_FILE', '/var/run/secrets/skein/token'),
  trustRootsFile: env('SKEIN_TRUST_ROOTS_FILE', '/var/run/skein/trust-roots/ca-bundle.crt'),
};

const log = createLogger('skein-controller');
const kc = new KubeConfig();
if (process.env.KUBECONFIG) kc.loadFromDefault(); else kc.loadFromCluster();

const metrics = discoveryMetrics();
collectDefaultMetrics({ register: metrics.registry });
const watchErrors = new Counter({ name: 'skein_controller_watch_errors_total', help: 'List and watch failures by resource (each is retried with backoff)', labelNames: ['resource'], registers: [metrics.registry] });

const cache = new ClusterCache();
const hub = new DiscoveryHub(cache, { trustDomain: config.trustDomain });

function informer<T extends KubernetesObject>(resource: string, path: string, apply: (type: EventType, obj: T) => string[]): Informer<T> {
  const inf = new Informer<T>({
    kubeConfig: kc, path,
    onEvent: (type, obj) => { hub.changed(apply(type, obj)); },
    onError: (err) => {
      watchErrors.inc({ resource });
      log.warn({ resource, err: err instanceof Error ? err.message : String(err) }, 'list/watch failed; retrying with backoff, serving the last known state');
    },
  });
  inf.start();
  return inf;
}
const informers = [
  informer<V1Service>('services', '/api/v1/services', (t, o) => cache.applyService(t, o)),
  informer<V1EndpointSlice>('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices', (t, o) => cache.applySlice(t, o)),
  informer<V1Pod>('pods', '/api/v1/pods', (t, o) => cache.applyPod(t, o)),
];

const self = identityName(config.serviceAccount, namespace, config.trustDomain);
const trustRoots = () => readFile(config.trustRootsFile, 'utf8');
/** Set once the server exists; renewals swap its certificate from then on. */
const serving: { server?: ReturnType<typeof createDiscoveryServer> } = {};
const identity = new IdentityClient({
  url: `https://${config.identityAddr}/certify`, identity: self, tokenFile: config.tokenFile, trustRoots,
  serverName: identityName('skein-identity', namespace, config.trustDomain),
  onCertificate: (c) => {
    log.info({ identity: self, notAfter: c.notAfter }, 'serving certificate issued');
    // Renewed in place: open streams keep going, new connections get the new certificate and roots.
    if (serving.server) {
      void servingTls().then((tls) => serving.server?.setSecureContext(tlsOptions(tls)))
        .catch((err: unknown) => log.error({ err: err instanceof Error ? err.message : String(err) }, 'renewed certificate not applied; still serving the previous one'));
    }
  },
  onError: (err) => log.warn({ err: err instanceof Error ? err.message : String(err), identityAddr: config.identityAddr }, 'cannot get a certificate from skein-identity; retrying'),
});

async function servingTls(): Promise<{ cert: string; key: string; ca: string }> {
  const c = identity.current;
  if (!c) throw new Error('no certificate yet');
  return { cert: [c.certPem, ...c.chainPem].join('\n'), key: c.keyPem, ca: await trustRoots() };
}

let listening = false;
const admin = createHttpServer((req, res) => {
  if (req.url === '/metrics') {
    void metrics.registry.metrics().then((text) => { res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text); });
    return;
  }
  if (req.url === '/healthz') { res.writeHead(200).end('ok'); return; }
  if (req.url === '/readyz') {
    const ready = listening && identity.ready();
    res.writeHead(ready ? 200 : 503).end(ready ? 'ok' : 'waiting for the caches and a serving certificate');
    return;
  }
  res.writeHead(404).end();
});
admin.listen(config.adminPort, '0.0.0.0');

// Serve only a complete picture: before the first lists, every target would look like "nothing there".
await Promise.all([...informers.map((i) => i.synced), identity.start()]);
serving.server = createDiscoveryServer({ tls: await servingTls(), hub, clusterDomain: config.clusterDomain, metrics, logger: log });
serving.server.listen(config.discoveryPort, '0.0.0.0', () => {
  listening = true;
  log.info({ port: config.discoveryPort, identity: self }, 'discovery serving');
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const i of informers) i.stop();
    identity.stop();
    admin.close();
    serving.server?.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 5_000).unref();
  });
}
