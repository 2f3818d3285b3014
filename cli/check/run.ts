// Fetches what each check needs from the user's cluster, in order; the
// verdicts come from checks.ts. Nothing here writes: the webhook probe is a
// server-side dry run.
import {
  AdmissionregistrationV1Api, ApiException, ApiextensionsV1Api, AppsV1Api, AuthorizationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, VersionApi, type V1Pod,
} from '@kubernetes/client-node';
import { checkTrustDomain } from './trust-domain.ts';
import { ALL_CRDS } from '../../api/crds/all.ts';
import { meshedNamespaces } from '../../webhook/audit.ts';
import {
  INSTALL_PERMISSIONS, checkApiReachable, checkCrd, checkDeployment, checkInjection, checkIssuer, checkNoExistingInstall,
  checkPermissions, checkPodSecurity, checkProxies, checkTrustAnchors, checkUnmeshedPods, checkVersion, type CheckResult,
} from './checks.ts';

export const CONTROL_PLANE_DEPLOYMENTS = ['skein-webhook', 'skein-identity', 'skein-controller'] as const;
const NS = 'skein-system';

export interface ClusterOptions { kubeconfig?: string | undefined; context?: string | undefined }

export function loadKubeConfig(opts: ClusterOptions): KubeConfig {
  const kc = new KubeConfig();
  if (opts.kubeconfig) kc.loadFromFile(opts.kubeconfig); else kc.loadFromDefault();
  if (opts.context) kc.setCurrentContext(opts.context);
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

export interface CheckOptions { pre: boolean; cliVersion: string; namespace: string; now?: Date }

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

  // Only namespaces that ask for the mesh: a cluster-wide pod list would be the whole cluster.
  const namespaces = (await core.listNamespace()).items;
  const lists = await Promise.all(meshedNamespaces(namespaces).map((n) => core.listNamespacedPod({ namespace: n.metadata?.name ?? '' })));
  report(checkUnmeshedPods(namespaces, lists.flatMap((l) => l.items)));
  report(checkPodSecurity(namespaces));
}
