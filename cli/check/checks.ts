// Each check as a pure function of what the cluster returned: the runner
// (run.ts) fetches, these decide ✓ or × and what the user should do.
import { X509Certificate } from 'node:crypto';
import type { V1CustomResourceDefinition, V1Deployment, V1Namespace, V1Pod, V1Secret } from '@kubernetes/client-node';
import { IssuerInvalid, loadIssuer, splitPem } from '../../operator/identity/issuer.ts';
import { PROXY_CONTAINER } from '../../api/mesh-names.ts';
import { meshedNamespaces, missedPods } from '../../webhook/audit.ts';
import { PSA_ENFORCE_LABEL, refusingPodSecurityLevel } from '../../webhook/inject/decide.ts';

export interface CheckResult {
  category: string;
  /** What is being claimed, read with ✓ in front: "Kubernetes version is supported". */
  name: string;
  ok: boolean;
  /** Facts behind the verdict (versions, counts, dates). */
  detail?: string;
  /** On failure: what to do about it. */
  hint?: string;
  /** A failure that leaves the mesh working for now (‼, as `linkerd check` warns): it does not fail the run. */
  warning?: boolean;
}

export const MIN_KUBERNETES = { major: 1, minor: 29 } as const;
export const EXPIRY_MARGIN_DAYS = 30;
const DAY = 86_400_000;
const NS = 'skein-system';

const pass = (category: string, name: string, detail?: string): CheckResult => ({ category, name, ok: true, ...(detail ? { detail } : {}) });
const fail = (category: string, name: string, detail: string, hint: string): CheckResult => ({ category, name, ok: false, detail, hint });
const warn = (category: string, name: string, detail: string, hint: string): CheckResult => ({ ...fail(category, name, detail, hint), warning: true });

export function checkApiReachable(error: unknown, server: string): CheckResult {
  const name = 'Kubernetes API is reachable';
  if (error === undefined) return pass('kubernetes-api', name, server);
  const why = error instanceof Error ? error.message : JSON.stringify(error);
  return fail('kubernetes-api', name, `${server}: ${why}`, 'check the kubeconfig and context (`kubectl cluster-info`), or pass --kubeconfig / --context');
}

export function checkVersion(gitVersion: string): CheckResult {
  const name = `Kubernetes version is supported (>= ${MIN_KUBERNETES.major}.${MIN_KUBERNETES.minor}, native sidecars)`;
  const m = /^v?(\d+)\.(\d+)/.exec(gitVersion);
  const ok = m !== null && (Number(m[1]) > MIN_KUBERNETES.major || (Number(m[1]) === MIN_KUBERNETES.major && Number(m[2]) >= MIN_KUBERNETES.minor));
  return ok ? pass('kubernetes-version', name, gitVersion)
    : fail('kubernetes-version', name, `the API server is ${gitVersion}`, `upgrade the cluster to Kubernetes ${MIN_KUBERNETES.major}.${MIN_KUBERNETES.minor} or newer`);
}

/** What an install creates, by kind: the user must be allowed to create each. */
export const INSTALL_PERMISSIONS: readonly { group: string; resource: string; namespaced: boolean }[] = [
  { group: '', resource: 'namespaces', namespaced: false },
  { group: 'apiextensions.k8s.io', resource: 'customresourcedefinitions', namespaced: false },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterroles', namespaced: false },
  { group: 'rbac.authorization.k8s.io', resource: 'clusterrolebindings', namespaced: false },
  { group: 'admissionregistration.k8s.io', resource: 'mutatingwebhookconfigurations', namespaced: false },
  { group: 'admissionregistration.k8s.io', resource: 'validatingwebhookconfigurations', namespaced: false },
  { group: 'rbac.authorization.k8s.io', resource: 'roles', namespaced: true },
  { group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespaced: true },
  { group: '', resource: 'serviceaccounts', namespaced: true },
  { group: '', resource: 'services', namespaced: true },
  { group: '', resource: 'secrets', namespaced: true },
  { group: '', resource: 'configmaps', namespaced: true },
  { group: 'apps', resource: 'deployments', namespaced: true },
];

export function checkPermissions(denied: readonly string[]): CheckResult {
  const name = 'can create every kind an install needs';
  return denied.length === 0 ? pass('pre-install', name, `${INSTALL_PERMISSIONS.length} kinds`)
    : fail('pre-install', name, `not allowed to create ${denied.join(', ')}`, 'install as a cluster administrator (the install creates cluster-scoped RBAC, CRDs and webhook configurations)');
}

export function checkNoExistingInstall(found: readonly string[]): CheckResult {
  const name = 'no existing Skein install';
  return found.length === 0 ? pass('pre-install', name)
    : fail('pre-install', name, `found ${found.join(', ')}`, 'Skein is already installed: run `kubectl skein check`, or remove it first with `kubectl skein uninstall | kubectl delete --ignore-not-found -f -`');
}

export function checkCrd(name: string, crd: V1CustomResourceDefinition | undefined): CheckResult {
  const claim = `CRD ${name} is installed and served`;
  if (!crd) return fail('crds', claim, 'not found', 'apply the CRDs: `kubectl skein install | kubectl apply --server-side -f -`');
  const established = crd.status?.conditions?.find((c) => c.type === 'Established');
  if (established?.status !== 'True') return fail('crds', claim, `not Established${established?.message ? `: ${established.message}` : ''}`, `see \`kubectl describe crd ${name}\``);
  const served = crd.spec.versions.filter((v) => v.served).map((v) => v.name);
  return pass('crds', claim, `served: ${served.join(', ')}`);
}

/**
 * The Gateway API CRDs Skein routes by (HTTPRoute, GRPCRoute): which release
 * and channel is present. Absent or another release is a warning, not a
 * failure: Services route as before without them, and a newer release's
 * routes are read the same way.
 */
export function checkGatewayApiCrds(crds: Record<'httproutes' | 'grpcroutes', V1CustomResourceDefinition | undefined>, tested: string): CheckResult {
  const claim = 'Gateway API CRDs (HTTPRoute, GRPCRoute) are installed';
  const missing = Object.entries(crds).filter(([, c]) => !c).map(([p]) => `${p}.gateway.networking.k8s.io`);
  if (missing.length > 0) return warn('crds', claim, `not found: ${missing.join(', ')}`, `routes by HTTPRoute/GRPCRoute need them: \`kubectl skein install --gateway-api-crds=install | kubectl apply --server-side -f -\` installs ${tested} (standard channel)`);
  const versions = new Set(Object.values(crds).map((c) => `${c?.metadata?.annotations?.['gateway.networking.k8s.io/bundle-version'] ?? 'unknown version'} (${c?.metadata?.annotations?.['gateway.networking.k8s.io/channel'] ?? 'unknown'} channel)`));
  const detail = `present: ${[...versions].join(', ')}; Skein is tested with ${tested} (standard channel)`;
  const v1Served = Object.values(crds).every((c) => c?.spec.versions.some((v) => v.name === 'v1' && v.served));
  if (!v1Served) return warn('crds', claim, detail, 'Skein reads v1 HTTPRoute and GRPCRoute: install Gateway API v1.1.0 or newer');
  return pass('crds', claim, detail);
}

export function checkDeployment(name: string, d: V1Deployment | undefined): CheckResult {
  const claim = `Deployment ${name} is ready`;
  if (!d) return fail('control-plane', claim, `not found in ${NS}`, 'install the control plane: `kubectl skein install | kubectl apply --server-side -f -`');
  const want = d.spec?.replicas ?? 1;
  const ready = d.status?.readyReplicas ?? 0;
  const updated = d.status?.updatedReplicas ?? 0;
  if (want === 0) return fail('control-plane', claim, 'scaled to 0 replicas', `scale it up: \`kubectl -n ${NS} scale deployment ${name} --replicas=1\``);
  if (ready < want || updated < want) {
    return fail('control-plane', claim, `${ready}/${want} replicas ready, ${updated} up to date`, `see \`kubectl -n ${NS} describe deployment ${name}\` and its pods' logs`);
  }
  return pass('control-plane', claim, `${ready}/${want} replicas ready`);
}

export function checkInjection(result: V1Pod | Error): CheckResult {
  const claim = 'the API server reaches the webhook (a dry-run pod is injected)';
  const hint = `check Deployment skein-webhook and MutatingWebhookConfiguration skein-webhook (\`kubectl -n ${NS} logs deploy/skein-webhook\`)`;
  if (result instanceof Error) return fail('webhook', claim, `the dry-run pod was refused: ${result.message}`, hint);
  const names = [...(result.spec?.initContainers ?? []), ...(result.spec?.containers ?? [])].map((c) => c.name);
  if (names.includes(PROXY_CONTAINER)) return pass('webhook', claim);
  const status = result.metadata?.annotations?.['skein.dev/injection'];
  const reason = result.metadata?.annotations?.['skein.dev/injection-reason'];
  return fail('webhook', claim, status ? `the webhook skipped it: ${reason ?? status}` : 'the pod came back without the proxy: the webhook was not called or did not answer', hint);
}

const days = (ms: number) => Math.floor(ms / DAY);

export function checkTrustAnchors(bundle: string | undefined, now: Date, marginDays = EXPIRY_MARGIN_DAYS): CheckResult {
  const claim = `trust anchors are valid for at least ${marginDays} days`;
  const hint = 'rotate the trust anchor: add the new one to ConfigMap skein-trust-anchors, re-issue the issuer from it, then remove the old one';
  if (bundle === undefined) return fail('identity', claim, `ConfigMap ${NS}/skein-trust-anchors not found`, 'create it: `kubectl skein install` prints it with the rest');
  const pems = splitPem(bundle);
  if (pems.length === 0) return fail('identity', claim, 'ca-bundle.crt holds no certificate', hint);
  for (const pem of pems) {
    const cert = new X509Certificate(pem);
    const left = new Date(cert.validTo).getTime() - now.getTime();
    if (!cert.ca) return fail('identity', claim, `${cert.subject} is not a CA certificate`, hint);
    if (left <= 0) return fail('identity', claim, `${cert.subject} expired on ${cert.validTo}`, hint);
    if (left < marginDays * DAY) return warn('identity', claim, `${cert.subject} expires on ${cert.validTo}`, hint);
  }
  return pass('identity', claim, `${pems.length} anchor(s)`);
}

/** The issuer: as skein-identity loads it, and not close to expiry unless cert-manager renews it. */
export async function checkIssuer(secret: V1Secret | undefined, anchors: string, now: Date, marginDays = EXPIRY_MARGIN_DAYS): Promise<CheckResult> {
  const managed = secret?.metadata?.annotations?.['cert-manager.io/certificate-name'] !== undefined;
  const claim = managed ? 'issuer is valid (renewed by cert-manager)' : `issuer is valid for at least ${marginDays} days`;
  if (!secret) return fail('identity', claim, `Secret ${NS}/skein-issuer not found`, 'create it: `kubectl skein install` prints it with the rest');
  const dec = (k: string) => Buffer.from(secret.data?.[k] ?? '', 'base64').toString('utf8');
  try {
    const issuer = await loadIssuer(dec('tls.crt'), dec('tls.key'), anchors, now);
    const left = issuer.cert.notAfter.getTime() - now.getTime();
    const detail = `${issuer.cert.subject}, ${days(left)} days left`;
    if (!managed && left < marginDays * DAY) {
      return warn('identity', claim, detail, 'issue a new issuer from the trust anchor and replace Secret skein-issuer (skein-identity picks it up without a restart)');
    }
    return pass('identity', claim, detail);
  } catch (err) {
    if (!(err instanceof IssuerInvalid)) throw err;
    return fail('identity', claim, err.message, 'replace Secret skein-issuer with an issuer signed by a current trust anchor');
  }
}

/** A proxy's version: the annotation when the webhook wrote one, else its image tag. */
export function proxyVersion(pod: V1Pod): string | undefined {
  const fromMeta = pod.metadata?.annotations?.['skein.dev/proxy-version'] ?? pod.metadata?.labels?.['skein.dev/proxy-version'];
  if (fromMeta) return fromMeta;
  const proxy = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === PROXY_CONTAINER);
  const tag = /:([^:/@]+)(@.*)?$/.exec(proxy?.image ?? '');
  return tag?.[1];
}

export const hasProxy = (pod: V1Pod) => [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some((c) => c.name === PROXY_CONTAINER);
const podName = (p: V1Pod) => `${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
const isReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** At most a few names in a message; the rest as a count. */
function some(names: readonly string[], max = 3): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

export function checkProxies(pods: readonly V1Pod[], cliVersion: string): CheckResult[] {
  const meshed = pods.filter((p) => hasProxy(p) && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  const unready = meshed.filter((p) => !isReady(p)).map(podName);
  const stale = meshed.filter((p) => proxyVersion(p) !== cliVersion).map((p) => `${podName(p)} (${proxyVersion(p) ?? 'unknown'})`);
  return [
    unready.length === 0 ? pass('data-plane', 'data-plane proxies are ready', `${meshed.length} meshed pod(s)`)
      : fail('data-plane', 'data-plane proxies are ready', `not ready: ${some(unready)}`, 'see `kubectl describe pod` and the skein-proxy container\'s logs'),
    stale.length === 0 ? pass('data-plane', `data-plane proxies are at ${cliVersion}`, `${meshed.length} meshed pod(s)`)
      : warn('data-plane', `data-plane proxies are at ${cliVersion}`, `other versions: ${some(stale)}`, 'restart the workloads to pick up the current proxy: `kubectl rollout restart deployment -n <namespace>`'),
  ];
}

/**
 * With failurePolicy Ignore a pod created while the webhook was away starts
 * without the proxy: the mesh has a hole nobody sees unless it is named here.
 */
export function checkUnmeshedPods(namespaces: readonly V1Namespace[], pods: readonly V1Pod[]): CheckResult {
  const claim = 'pods in meshed namespaces run with the proxy';
  const meshed = meshedNamespaces(namespaces);
  const missed = meshed.flatMap((ns) => missedPods(pods.filter((p) => p.metadata?.namespace === ns.metadata?.name), ns)).map(podName);
  return missed.length === 0 ? pass('data-plane', claim, `${meshed.length} meshed namespace(s)`)
    : fail('data-plane', claim, `running un-meshed: ${some(missed)}`,
      'they were created while skein-webhook was unavailable; restart their workloads to mesh them: `kubectl rollout restart deployment -n <namespace>` (or delete the pods)');
}

/** A meshed namespace whose Pod Security level refuses skein-init gets unmeshed pods (the injector skips them, with an Event). */
export function checkPodSecurity(namespaces: readonly V1Namespace[]): CheckResult {
  const claim = 'meshed namespaces allow skein-init under Pod Security Admission';
  const refused = meshedNamespaces(namespaces).flatMap((ns) => {
    const level = refusingPodSecurityLevel(ns);
    return level ? [`${ns.metadata?.name ?? '?'} (${level})`] : [];
  });
  return refused.length === 0 ? pass('data-plane', claim)
    : warn('data-plane', claim, `Pod Security refuses NET_ADMIN and NET_RAW in: ${some(refused)}; their pods start unmeshed`,
      `label them ${PSA_ENFORCE_LABEL}=privileged to mesh their pods, or remove skein.dev/inject from them`);
}

/** What `check --proxy` learned about one meshed namespace. */
export interface NamespaceProxies {
  namespace: string;
  /** Its pods that carry the proxy. */
  pods: readonly V1Pod[];
  /** Each pod's proxy /ready answer (admin port, through the API server): undefined when 200, else why not. */
  notReady: ReadonlyMap<string, string>;
  /** ca-bundle.crt of its ConfigMap skein-trust-roots, which the proxies verify peers against. */
  trustRoots: string | undefined;
}

const fingerprints = (bundle: string) => new Set(splitPem(bundle).map((pem) => new X509Certificate(pem).fingerprint256));

const proxyContainerReady = (p: V1Pod) => [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]
  .some((c) => c.name === PROXY_CONTAINER && c.ready);

/**
 * `linkerd check --proxy`'s data-plane checks for one namespace: the proxies
 * run, hold a certificate (their /ready requires a valid one), trust what
 * the control plane's anchors sign, and run the CLI's version (a warning).
 */
export function checkNamespaceProxies(ns: NamespaceProxies, anchors: string | undefined, cliVersion: string): CheckResult[] {
  const category = `data-plane/${ns.namespace}`;
  const running = ns.pods.filter((p) => p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed');
  const down = running.filter((p) => !proxyContainerReady(p)).map(podName);
  const uncertified = running.filter((p) => ns.notReady.has(p.metadata?.name ?? '')).map((p) => `${podName(p)} (${ns.notReady.get(p.metadata?.name ?? '') ?? ''})`);
  const stale = running.filter((p) => proxyVersion(p) !== cliVersion).map((p) => `${podName(p)} (${proxyVersion(p) ?? 'unknown'})`);
  const count = `${running.length} meshed pod(s)`;
  const describe = `see \`kubectl -n ${ns.namespace} describe pod <pod>\` and \`kubectl -n ${ns.namespace} logs <pod> -c ${PROXY_CONTAINER}\``;
  const roots = (): CheckResult => {
    const claim = `trust roots in ${ns.namespace} match the control plane's trust anchors`;
    const hint = 'skein-identity writes ConfigMap skein-trust-roots into every meshed namespace: check its logs (`kubectl -n skein-system logs deploy/skein-identity`)';
    if (ns.trustRoots === undefined) return fail(category, claim, `ConfigMap ${ns.namespace}/skein-trust-roots not found`, hint);
    if (anchors === undefined) return fail(category, claim, `ConfigMap ${NS}/skein-trust-anchors not found`, 'create it: `kubectl skein install` prints it with the rest');
    const [have, want] = [fingerprints(ns.trustRoots), fingerprints(anchors)];
    const same = have.size === want.size && [...want].every((f) => have.has(f));
    return same ? pass(category, claim, `${want.size} anchor(s)`)
      : fail(category, claim, `${ns.namespace}/skein-trust-roots holds ${have.size} certificate(s), ${[...want].filter((f) => have.has(f)).length} of the ${want.size} current anchor(s)`, hint);
  };
  return [
    down.length === 0 ? pass(category, `proxies in ${ns.namespace} are up`, count) : fail(category, `proxies in ${ns.namespace} are up`, `not ready: ${some(down)}`, describe),
    uncertified.length === 0 ? pass(category, `proxies in ${ns.namespace} have valid certificates (their /ready)`, count)
      : fail(category, `proxies in ${ns.namespace} have valid certificates (their /ready)`, `not ready: ${some(uncertified)}`, describe),
    roots(),
    stale.length === 0 ? pass(category, `proxies in ${ns.namespace} are at ${cliVersion}`, count)
      : warn(category, `proxies in ${ns.namespace} are at ${cliVersion}`, `other versions: ${some(stale)}`, `restart the workloads to pick up the current proxy: \`kubectl rollout restart deployment -n ${ns.namespace}\``),
  ];
}
