// Fetches what each check needs from the user's cluster, in order; the
// verdicts come from checks.ts. Nothing here writes: the webhook probe is a
// server-side dry run.
import {
  AdmissionregistrationV1Api, ApiException, ApiextensionsV1Api, AppsV1Api, AuthorizationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, VersionApi, type V1Pod,
} from '@kubernetes/client-node';
import { checkTrustDomain } from './trust-domain.ts';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ALL_CRDS } from '../../api/crds/all.ts';
import { PORTS, TRUST_ROOTS_CONFIGMAP } from '../../api/mesh-names.ts';
import { CliError } from '../errors.ts';
import { passed } from './format.ts';
import { meshedNamespaces } from '../../webhook/audit.ts';
import {
  INSTALL_PERMISSIONS, checkApiReachable, checkNamespaceProxies, hasProxy, checkCrd, checkDeployment, checkInjection, checkIssuer, checkNoExistingInstall,
  checkPermissions, checkPodSecurity, checkProxies, checkTrustAnchors, checkUnmeshedPods, checkVersion, checkGatewayApiCrds, type CheckResult,
} from './checks.ts';
import { GATEWAY_API_BUNDLE_VERSION } from '../../api/crds/gateway-route.ts';

export const CONTROL_PLANE_DEPLOYMENTS = ['skein-webhook', 'skein-identity', 'skein-controller'] as const;
const NS = 'skein-system';

export interface ClusterOptions { kubeconfig?: string | undefined; context?: string | undefined }

/** Where kubectl would look, in its order; undefined when it would find nothing (and fall back to localhost:8080). */
export function kubeconfigSource(env: Readonly<Record<string, string | undefined>>, home: string, exists: (p: string) => boolean): string | undefined {
  const listed = (env.KUBECONFIG ?? '').split(':').filter(Boolean);
  if (listed.length > 0) return listed.find(exists) ?? listed.join(':');
  if (env.KUBERNETES_SERVICE_HOST) return 'in-cluster';
  const file = join(home, '.kube', 'config');
  return exists(file) ? file : undefined;
}

/** The user's kubeconfig, or a CliError saying what is missing: never a stack trace from a file read. */
export function loadKubeConfig(opts: ClusterOptions, env = process.env, home = homedir(), exists = existsSync): KubeConfig {
  const kc = new KubeConfig();
  const source = opts.kubeconfig ?? kubeconfigSource(env, home, exists);
  if (source === undefined) {
    throw new CliError('no_kubeconfig', `no kubeconfig: KUBECONFIG is unset and ${join(home, '.kube', 'config')} does not exist; pass --kubeconfig FILE, set KUBECONFIG, or check \`kubectl config view\``);
  }
  try {
    if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig); else kc.loadFromDefault();
  } catch (err) {
    throw new CliError('no_kubeconfig', `cannot load the kubeconfig ${source}: ${(err as Error).message}; pass --kubeconfig FILE or fix KUBECONFIG`);
  }
  if (opts.context) {
    if (!kc.getContexts().some((c) => c.name === opts.context)) {
      throw new CliError('no_kubeconfig', `context "${opts.context}" is not in ${source} (it has ${kc.getContexts().map((c) => c.name).join(', ') || 'none'})`);
    }
    kc.setCurrentContext(opts.context);
  }
  return kc;
}

/** Undefined for 404: "not there" is an answer the checks judge, not an error. */
async function orMissing<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof ApiException && err.code === 404) return undefined;
    throw err;
  }
}

export interface CheckOptions { pre: boolean; cliVersion: string; namespace: string; now?: Date; proxy?: boolean }

/** Runs the checks, reporting each as soon as it is known; stops early when the API server is away. */
export async function runChecks(kc: KubeConfig, opts: CheckOptions, onResult: (r: CheckResult) => void): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const report = (r: CheckResult) => { results.push(r); onResult(r); };
  const server = kc.getCurrentCluster()?.server ?? '(no server in kubeconfig)';
  const gitVersion = await kc.makeApiClient(VersionApi).getCode().then((v) => v.gitVersion, (err: unknown) => err instanceof Error ? err : new Error(String(err)));
  report(checkApiReachable(gitVersion instanceof Error ? gitVersion : undefined, server));
  if (gitVersion instanceof Error) return results;
  report(checkVersion(gitVersion));
  if (opts.pre) await preInstall(kc, report); else await postInstall(kc, opts, report);
  return results;
}

async function preInstall(kc: KubeConfig, report: (r: CheckResult) => void): Promise<void> {
  const authz = kc.makeApiClient(AuthorizationV1Api);
  const denied: string[] = [];
  for (const p of INSTALL_PERMISSIONS) {
    const review = await authz.createSelfSubjectAccessReview({
      body: { spec: { resourceAttributes: { verb: 'create', group: p.group, resource: p.resource, ...(p.namespaced ? { namespace: NS } : {}) } } },
    });
    if (!review.status?.allowed) denied.push(p.group ? `${p.resource}.${p.group}` : p.resource);
  }
  report(checkPermissions(denied));
  const found: string[] = [];
  if (await orMissing(kc.makeApiClient(CoreV1Api).readNamespace({ name: NS }))) found.push(`Namespace ${NS}`);
  if (await orMissing(kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: 'skein-webhook' }))) found.push('MutatingWebhookConfiguration skein-webhook');
  report(checkNoExistingInstall(found));
}

/** A pod that asks for injection, created with dryRun=All: the API server calls the webhook and stores nothing. */
export function probePod(): V1Pod {
  return {
    metadata: { generateName: 'skein-check-', annotations: { 'skein.dev/inject': 'enabled' } },
    spec: { containers: [{ name: 'probe', image: 'registry.k8s.io/pause:3.10' }] },
  };
}

async function postInstall(kc: KubeConfig, opts: CheckOptions, report: (r: CheckResult) => void): Promise<void> {
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  for (const d of ALL_CRDS) {
    const name = `${d.names.plural}.${d.group}`;
    report(checkCrd(name, await orMissing(ext.readCustomResourceDefinition({ name }))));
  }
  const [httproutes, grpcroutes] = await Promise.all(['httproutes', 'grpcroutes'].map((p) => orMissing(ext.readCustomResourceDefinition({ name: `${p}.gateway.networking.k8s.io` }))));
  report(checkGatewayApiCrds({ httproutes, grpcroutes }, GATEWAY_API_BUNDLE_VERSION));
  const apps = kc.makeApiClient(AppsV1Api);
  const deployments = await Promise.all(CONTROL_PLANE_DEPLOYMENTS.map((name) => orMissing(apps.readNamespacedDeployment({ name, namespace: NS }))));
  CONTROL_PLANE_DEPLOYMENTS.forEach((name, i) => report(checkDeployment(name, deployments[i])));
  const meshIdentity = await orMissing(kc.makeApiClient(CustomObjectsApi).getClusterCustomObject({ group: 'skein.dev', version: 'v1alpha1', plural: 'meshidentities', name: 'default' })) as { spec?: { trustDomain?: string } } | undefined;
  report(checkTrustDomain(deployments.filter((d) => d !== undefined), meshIdentity?.spec?.trustDomain));

  const core = kc.makeApiClient(CoreV1Api);
  const probed = await core.createNamespacedPod({ namespace: opts.namespace, body: probePod(), dryRun: 'All' })
    .catch((err: unknown) => (err instanceof Error ? err : new Error(String(err))));
  report(checkInjection(probed));

  const now = opts.now ?? new Date();
  const anchors = (await orMissing(core.readNamespacedConfigMap({ name: 'skein-trust-anchors', namespace: NS })))?.data?.['ca-bundle.crt'];
  report(checkTrustAnchors(anchors, now));
  report(await checkIssuer(await orMissing(core.readNamespacedSecret({ name: 'skein-issuer', namespace: NS })), anchors ?? '', now));

  const pods = await core.listPodForAllNamespaces({ labelSelector: 'skein.dev/control-plane-ns' });
  for (const r of checkProxies(pods.items, opts.cliVersion)) report(r);
  if (opts.proxy) await proxyChecks(core, pods.items, anchors, opts.cliVersion, report);

  // Only namespaces that ask for the mesh: a cluster-wide pod list would be the whole cluster.
  const namespaces = (await core.listNamespace()).items;
  const lists = await Promise.all(meshedNamespaces(namespaces).map((n) => core.listNamespacedPod({ namespace: n.metadata?.name ?? '' })));
  report(checkUnmeshedPods(namespaces, lists.flatMap((l) => l.items)));
  report(checkPodSecurity(namespaces));
}

/** The proxy's own answer on its admin port, through the API server's pod proxy: undefined when ready. */
async function proxyNotReady(core: CoreV1Api, pod: V1Pod): Promise<string | undefined> {
  try {
    await core.connectGetNamespacedPodProxyWithPath({ name: `${pod.metadata?.name ?? ''}:${PORTS.admin}`, namespace: pod.metadata?.namespace ?? '', path: 'ready' });
    return undefined;
  } catch (err) {
    const body = err instanceof ApiException ? String(err.body as unknown) : (err as Error).message;
    return body.replace(/^not ready:\s*/, '').replace(/\s*\n\s*/g, '; ').trim() || `HTTP ${err instanceof ApiException ? err.code : '?'}`;
  }
}

/** --proxy: every meshed namespace's data plane, one category each. */
async function proxyChecks(core: CoreV1Api, meshed: readonly V1Pod[], anchors: string | undefined, cliVersion: string, report: (r: CheckResult) => void): Promise<void> {
  const byNamespace = new Map<string, V1Pod[]>();
  for (const p of meshed.filter(hasProxy)) byNamespace.set(p.metadata?.namespace ?? '', [...(byNamespace.get(p.metadata?.namespace ?? '') ?? []), p]);
  for (const [namespace, pods] of [...byNamespace].sort(([a], [b]) => a.localeCompare(b))) {
    const running = pods.filter((p) => p.status?.phase === 'Running');
    const answers = await Promise.all(running.map(async (p) => [p.metadata?.name ?? '', await proxyNotReady(core, p)] as const));
    const notReady = new Map(answers.filter((a): a is readonly [string, string] => a[1] !== undefined));
    const trustRoots = (await orMissing(core.readNamespacedConfigMap({ name: TRUST_ROOTS_CONFIGMAP, namespace })))?.data?.['ca-bundle.crt'];
    for (const r of checkNamespaceProxies({ namespace, pods, notReady, trustRoots }, anchors, cliVersion)) report(r);
  }
}

/**
 * --wait: runs every check again until none fails (warnings do not count)
 * or the time is up, as `linkerd check --wait` does; the last run is the answer.
 */
export async function runChecksUntil(kc: KubeConfig, opts: CheckOptions, waitMs: number, onWaiting: (failing: readonly CheckResult[]) => void,
  pauseMs = 2_000): Promise<CheckResult[]> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const results = await runChecks(kc, opts, () => undefined);
    if (passed(results) || Date.now() + pauseMs > deadline) return results;
    onWaiting(results.filter((r) => !r.ok && !r.warning));
    await sleep(pauseMs);
  }
}
