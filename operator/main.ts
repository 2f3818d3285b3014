// skein-controller: the wiring. Informers fill the discovery cache; the
// discovery server streams resolutions (and each pod's inbound policy) to
// proxies over mTLS with a certificate from the identity service, like any
// proxy's; an admin port serves /metrics, /healthz and /readyz. Every
// replica serves discovery; the policy reconcilers write status only while
// this replica holds the Lease skein-controller (skein-system).
//
// Settings (environment):
//   SKEIN_DEFAULT_INBOUND_POLICY  the cluster's default inbound policy for ports no
//                                 AuthorizationPolicy targets: all-unauthenticated (default),
//                                 all-authenticated, cluster-authenticated or deny
//   SKEIN_CLUSTER_NETWORKS        comma-separated CIDRs of the cluster's pods and nodes, for
//                                 cluster-authenticated (default 10.0.0.0/8,100.64.0.0/10,
//                                 172.16.0.0/12,192.168.0.0/16)
import { createServer as createHttpServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { KubernetesObject, V1EndpointSlice, V1Namespace, V1Pod, V1Service } from '@kubernetes/client-node';
import { Counter, collectDefaultMetrics } from 'prom-client';
import { controlPlane } from '../shared/control-plane/context.ts';
import { setting } from '../shared/control-plane/settings.ts';
import { Informer, type EventType } from '../shared/informer.ts';
import { IdentityClient } from '../shared/identity-client.ts';
import { identityName } from '../api/identity-names.ts';
import { DISCOVERY_PORT, IDENTITY_PORT, IDENTITY_SERVICE, TOKEN_MOUNT, TRUST_ROOTS_MOUNT } from '../api/mesh-names.ts';
import { CLUSTER_DEFAULT_INBOUND_POLICY } from '../api/discovery-protocol.ts';
import { cidrProblem } from '../api/crds/authorizationpolicy.ts';
import { ClusterCache, serviceAccountOf, type PolicyObject } from './discovery/cache.ts';
import { DiscoveryHub } from './hub.ts';
import { discoveryMetrics } from './discovery/metrics.ts';
import { createDiscoveryServer, tlsOptions } from './discovery/server.ts';
import { DEFAULT_CLUSTER_NETWORKS } from './policy/inbound.ts';
import { AUTHORIZATION_POLICY, GRPC_ROUTE, HTTP_ROUTE, HTTP_ROUTE_GROUP, SERVICE_PROFILE, TRAFFIC_SPLIT, apiPath, type PolicyKind } from './policy/objects.ts';
import { PolicyReconciler, kubeStatusWriter } from './policy/reconciler.ts';
import { RouteStatusReconciler } from './gateway/reconciler.ts';
import { isUsableRoute } from './gateway/validate.ts';
import type { RouteKind } from '../api/crds/gateway-route.ts';

const cp = controlPlane('controller', {
  SKEIN_DISCOVERY_PORT: setting.port(DISCOVERY_PORT),
  SKEIN_ADMIN_PORT: setting.port(9996),
  SKEIN_SERVICE_ACCOUNT: setting.text('skein-controller'),
  // The Service's DNS name by default; the kubelet's SKEIN_IDENTITY_SERVICE_HOST where there is no cluster DNS.
  SKEIN_IDENTITY_ADDR: setting.optionalText(),
  SKEIN_IDENTITY_SERVICE_HOST: setting.optionalText(),
  SKEIN_IDENTITY_SERVICE_PORT: setting.port(IDENTITY_PORT),
  SKEIN_IDENTITY_TOKEN_FILE: setting.text(`${TOKEN_MOUNT}/token`),
  SKEIN_TRUST_ROOTS_FILE: setting.text(`${TRUST_ROOTS_MOUNT}/ca-bundle.crt`),
  // A bad setting stops the controller at start with what to write, rather than serving a policy nobody meant.
  SKEIN_DEFAULT_INBOUND_POLICY: setting.defaultInboundPolicy(CLUSTER_DEFAULT_INBOUND_POLICY),
  SKEIN_CLUSTER_NETWORKS: setting.list(DEFAULT_CLUSTER_NETWORKS, cidrProblem),
});
const { settings: env, log, kc } = cp;
const namespace = env.POD_NAMESPACE;
const config = {
  discoveryPort: env.SKEIN_DISCOVERY_PORT,
  adminPort: env.SKEIN_ADMIN_PORT,
  trustDomain: env.SKEIN_TRUST_DOMAIN,
  clusterDomain: env.SKEIN_CLUSTER_DOMAIN,
  serviceAccount: env.SKEIN_SERVICE_ACCOUNT,
  identityAddr: env.SKEIN_IDENTITY_ADDR ?? (env.SKEIN_IDENTITY_SERVICE_HOST
    ? `${env.SKEIN_IDENTITY_SERVICE_HOST}:${env.SKEIN_IDENTITY_SERVICE_PORT}`
    : `${IDENTITY_SERVICE}.${namespace}.svc.${env.SKEIN_CLUSTER_DOMAIN}:${IDENTITY_PORT}`),
  tokenFile: env.SKEIN_IDENTITY_TOKEN_FILE,
  trustRootsFile: env.SKEIN_TRUST_ROOTS_FILE,
  clusterNetworks: env.SKEIN_CLUSTER_NETWORKS,
  podName: cp.podName,
};
const defaultInboundPolicy = env.SKEIN_DEFAULT_INBOUND_POLICY;

const metrics = discoveryMetrics();
collectDefaultMetrics({ register: metrics.registry });
const watchErrors = new Counter({ name: 'skein_controller_watch_errors_total', help: 'List and watch failures by resource (each is retried with backoff)', labelNames: ['resource'], registers: [metrics.registry] });

const cache = new ClusterCache(isUsableRoute);
const hub = new DiscoveryHub(cache, {
  trustDomain: config.trustDomain, clusterDomain: config.clusterDomain, defaultInboundPolicy, clusterNetworks: config.clusterNetworks,
});

const elector = cp.elector('writing policy status and Events', { onStartedLeading: () => { reconciler.enqueueAll(); routeReconciler.enqueueAll(); } });

function informer<T extends KubernetesObject>(resource: string, path: string, apply: (type: EventType, obj: T) => string[], then?: (obj: T) => void): Informer<T> {
  const inf = new Informer<T>({
    kubeConfig: kc, path,
    onEvent: (type, obj) => { hub.changed(apply(type, obj)); then?.(obj); },
    onError: (err) => {
      watchErrors.inc({ resource });
      log.warn({ resource, err }, 'list/watch failed; retrying with backoff, serving the last known state');
    },
  });
  inf.start();
  return inf;
}
const informers = [
  informer<V1Service>('services', '/api/v1/services', (t, o) => cache.applyService(t, o), (o) => { reconciler.enqueueNamespace(o.metadata?.namespace ?? ''); routeReconciler.enqueueAll(); }),
  informer<V1EndpointSlice>('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices', (t, o) => cache.applySlice(t, o)),
  informer<V1Pod>('pods', '/api/v1/pods', (t, o) => cache.applyPod(t, o)),
  informer<V1Namespace>('namespaces', '/api/v1/namespaces', (t, o) => cache.applyNamespace(t, o)),
];
const policyInformer = (kind: PolicyKind, apply: (t: EventType, o: PolicyObject) => string[]) =>
  ({ kind, informer: informer<PolicyObject>(kind.plural, apiPath(kind), apply, (o) => reconciler.enqueue(kind, o)) });
const policies = [
  policyInformer(SERVICE_PROFILE, (t, o) => cache.applyServiceProfile(t, o)),
  policyInformer(TRAFFIC_SPLIT, (t, o) => cache.applyTrafficSplit(t, o)),
  policyInformer(AUTHORIZATION_POLICY, (t, o) => cache.applyAuthorizationPolicy(t, o)),
];
// Read, not reconciled: a group change re-pushes the targets whose split names it
// (the hub's index) and re-evaluates the TrafficSplits of its namespace.
const routeGroups = informer<PolicyObject>(HTTP_ROUTE_GROUP.plural, apiPath(HTTP_ROUTE_GROUP), (t, o) => cache.applyHTTPRouteGroup(t, o),
  (o) => reconciler.enqueueNamespace(o.metadata?.namespace ?? ''));
// Gateway API routes (GAMMA): optional CRDs, so discovery never waits for them; until they
// exist their informers retry with backoff and Services route as before.
const routeInformer = (kind: PolicyKind) => ({
  kind,
  informer: informer<PolicyObject>(kind.plural, apiPath(kind), (t, o) => cache.applyGatewayRoute(kind.kind as RouteKind, t, o), () => routeReconciler.enqueueAll()),
});
const gatewayRoutes = [routeInformer(HTTP_ROUTE), routeInformer(GRPC_ROUTE)];
const routeReconciler = new RouteStatusReconciler({
  sources: gatewayRoutes.map(({ kind, informer: i }) => ({ kind, get: (ns, name) => i.get(`${ns}/${name}`), list: () => i.list() })),
  view: cache, writer: kubeStatusWriter(kc, cp.events), isLeader: () => elector.isLeader, log,
});
const reconciler = new PolicyReconciler({
  sources: policies.map(({ kind, informer: i }) => ({ kind, get: (ns, name) => i.get(`${ns}/${name}`), list: () => i.list() })),
  view: cache, clusterDomain: config.clusterDomain, writer: kubeStatusWriter(kc, cp.events), isLeader: () => elector.isLeader, log,
});

const self = identityName(config.serviceAccount, namespace, config.trustDomain);
const trustRoots = () => readFile(config.trustRootsFile, 'utf8');
/** Set once the server exists; renewals swap its certificate from then on. */
const serving: { server?: ReturnType<typeof createDiscoveryServer> } = {};
const identity = new IdentityClient({
  url: `https://${config.identityAddr}/certify`, identity: self, tokenFile: config.tokenFile, trustRoots,
  serverName: identityName(IDENTITY_SERVICE, namespace, config.trustDomain),
  onCertificate: (c) => {
    log.info({ identity: self, notAfter: c.notAfter }, 'serving certificate issued');
    // Renewed in place: open streams keep going, new connections get the new certificate and roots.
    if (serving.server) {
      void servingTls().then((tls) => serving.server?.setSecureContext(tlsOptions(tls)))
        .catch((err: unknown) => log.error({ err }, 'renewed certificate not applied; still serving the previous one'));
    }
  },
  onError: (err) => log.warn({ err, identityAddr: config.identityAddr }, 'cannot get a certificate from skein-identity; retrying'),
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
// The policy CRDs are waited for a while, not forever: without them discovery still serves endpoints.
const policiesListed = Promise.all([...policies.map((p) => p.informer.synced), routeGroups.synced]);
const policiesSeen = await Promise.all([
  Promise.race([policiesListed.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), 15_000).unref())]),
  ...informers.map((i) => i.synced), identity.start(),
]);
if (!policiesSeen[0]) log.warn('the policy CRDs cannot be listed (are crds/ applied?); serving discovery without policy until they can');
elector.start();
const firstTls = await servingTls();
serving.server = createDiscoveryServer({
  tls: firstTls, hub, clusterDomain: config.clusterDomain, metrics, logger: log,
  podServiceAccount: (ns, pod) => serviceAccountOf(cache, ns, pod),
});
// Anchor rotation: the kubelet refreshes the mounted bundle, and proxies whose leaves chain to the new
// anchor must be admitted now, not at this process's next certificate renewal.
let rootsInUse = firstTls.ca;
setInterval(() => {
  void servingTls().then((tls) => {
    if (tls.ca === rootsInUse || !tls.ca.includes('BEGIN CERTIFICATE')) return;
    serving.server?.setSecureContext(tlsOptions(tls));
    rootsInUse = tls.ca;
    log.info({ certificates: tls.ca.split('BEGIN CERTIFICATE').length - 1 }, 'trust roots changed; new discovery connections are verified against them');
  }, (err: unknown) => log.warn({ err }, 'trust roots unreadable; keeping the current ones'));
}, 10_000).unref();
serving.server.listen(config.discoveryPort, '0.0.0.0', () => {
  listening = true;
  log.info({ port: config.discoveryPort, identity: self }, 'discovery serving');
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    for (const i of [...informers, ...policies.map((p) => p.informer), ...gatewayRoutes.map((r) => r.informer), routeGroups]) i.stop();
    reconciler.stop();
    routeReconciler.stop();
    identity.stop();
    admin.close();
    setTimeout(() => process.exit(0), 5_000).unref();
    // Released on the way out, so another replica takes over at once instead of after the lease duration.
    void elector.stop(true).finally(() => {
      if (serving.server) serving.server.close(() => process.exit(0)); else process.exit(0);
    });
  });
}
