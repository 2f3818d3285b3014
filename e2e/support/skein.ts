// Skein installed on the test cluster the way a user installs it: the CRDs,
// `kubectl apply -k manifests/base`, and a trust anchor and issuer made by
// the bootstrap helper. Removed again when the test ends.
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestContext } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { eventually, kubeConfig, kubectl } from './kube.ts';
import { IMAGES } from './images.ts';
import { bootstrapIdentity, renderIdentityObjects, type Bootstrap } from '../../operator/identity/bootstrap.ts';
import { IdentityClient } from '../../shared/identity-client.ts';
import { DiscoveryClient } from '../../shared/discovery-client.ts';
import { identityName } from '../../api/identity-names.ts';
import { INJECT_ANNOTATION, PROXY_CONTAINER } from '../../api/mesh-names.ts';

export const REPO = resolve(import.meta.dirname, '../..');
export const BASE = join(REPO, 'manifests/base');
/** manifests/base with the test bed's cluster network (198.18.0.0/15). */
export const TESTBED = join(REPO, 'e2e/testbed/base');
export const CRDS = join(REPO, 'crds');

const DEPLOYMENTS = ['skein-webhook', 'skein-identity', 'skein-controller'];
const run = promisify(execFile);
export const CLI = join(REPO, 'cli/bin/kubectl-skein');

/** The cluster's kubectl binary; the CLI renders with the same one. */
export async function kubectlBin(): Promise<string> {
  const bin = process.env.SKEIN_K8S_BIN ?? (await run(join(REPO, 'e2e/cluster/build-binaries.sh'))).stdout.trim().split('\n').pop() ?? '';
  return join(bin, 'kubectl');
}

/** `kubectl skein <args> | kubectl <then...>` in bash with pipefail: either side failing fails the pipe. */
export async function pipeSkein(args: string, then: string): Promise<string> {
  const k = await kubectlBin();
  const env = { ...process.env, SKEIN_KUBECTL: k, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  const { stdout } = await run('bash', ['-o', 'pipefail', '-c', `"${CLI}" ${args} | "${k}" --kubeconfig "${process.env.KUBECONFIG ?? ''}" ${then}`], { env, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** `kubectl skein check <args>`: its exit code and output, without throwing on failure. */
export async function skeinCheck(...args: string[]): Promise<{ code: number; stdout: string }> {
  const env = { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  try {
    return { code: 0, stdout: (await run(CLI, ['check', ...args], { env })).stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '' };
  }
}

/** What these helpers need of a test: where to put their clean-up. A benchmark passes its own. */
export type Cleanup = Pick<TestContext, 'after'>;

export interface Installed { trust: Bootstrap }

/** `kustomization`: the test bed's (the default), or an overlay as shipped, e.g. manifests/overlays/ha. */
export async function installSkein(t: Cleanup, trustDomain = 'cluster.local', kustomization = TESTBED): Promise<Installed> {
  const dir = mkdtempSync(join(tmpdir(), 'skein-install-'));
  t.after(async () => {
    await kubectl('delete', '-k', BASE, '--wait=true', '--ignore-not-found');
    rmSync(dir, { recursive: true, force: true });
  });
  // A fresh trust anchor over a leftover install would strand certificates the old issuer signed.
  await kubectl('delete', '-k', BASE, '--wait=true', '--ignore-not-found');
  await kubectl('apply', '--server-side', '-f', CRDS);
  await kubectl('apply', '-k', kustomization);
  const trust = await bootstrapIdentity(trustDomain);
  writeFileSync(join(dir, 'identity.yaml'), renderIdentityObjects(trust));
  await kubectl('apply', '-f', join(dir, 'identity.yaml'));
  const present = (await kubectl('-n', 'skein-system', 'get', 'deployments', '-o', 'jsonpath={.items[*].metadata.name}')).split(' ');
  for (const d of DEPLOYMENTS.filter((name) => present.includes(name))) {
    await kubectl('-n', 'skein-system', 'rollout', 'status', `deployment/${d}`, '--timeout=180s');
  }
  if (present.includes('skein-webhook')) await injectionWorks();
  return { trust };
}

/**
 * A rolled-out webhook is not yet one the API server calls with a trusted
 * certificate (caBundle, its webhook informer); a test's app pods created in
 * that moment start unmeshed. A server dry run of a pod that asks for the mesh
 * comes back with the proxy once injection works.
 */
export async function injectionWorks(): Promise<void> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const probe = { metadata: { name: 'skein-injection-probe', annotations: { [INJECT_ANNOTATION]: 'enabled' } }, spec: { containers: [{ name: 'app', image: IMAGES.echo }] } };
  await eventually('a dry-run pod asking for the mesh comes back with the proxy injected', async () => {
    const pod = await core.createNamespacedPod({ namespace: 'default', body: probe, dryRun: 'All' });
    // The proxy is a native sidecar: an init container that keeps running.
    return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some((c) => c.name === PROXY_CONTAINER) ? true : undefined;
  }, 120_000);
}

/**
 * The test plays a meshed proxy of ServiceAccount `sa` in `ns`: a token with
 * the identity audience and a workload certificate from the installed
 * skein-identity, through its Service, as a proxy gets one.
 */
export async function workloadIdentity(t: Cleanup, trust: Bootstrap, ns: string, sa: string): Promise<IdentityClient> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const dir = mkdtempSync(join(tmpdir(), 'skein-workload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: sa } } });
  const token = await core.createNamespacedServiceAccountToken({ name: sa, namespace: ns, body: { spec: { audiences: ['identity.skein-system.cluster.local'], expirationSeconds: 3600 } } });
  writeFileSync(join(dir, 'token'), token.status?.token ?? '');
  const identitySvc = await core.readNamespacedService({ namespace: 'skein-system', name: 'skein-identity' });
  const identity = new IdentityClient({
    url: `https://${identitySvc.spec?.clusterIP ?? ''}:8080/certify`, serverName: identityName('skein-identity', 'skein-system', 'cluster.local'),
    identity: identityName(sa, ns, 'cluster.local'), tokenFile: join(dir, 'token'), trustRoots: () => Promise.resolve(trust.anchorPem),
  });
  t.after(() => identity.stop());
  await identity.start();
  return identity;
}

/** A discovery client of the installed skein-controller, through its Service, with the workload's certificate. */
export async function discoveryClient(t: Cleanup, trust: Bootstrap, identity: IdentityClient, ns: string): Promise<DiscoveryClient> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const discovery = await core.readNamespacedService({ namespace: 'skein-system', name: 'skein-discovery' });
  const client = new DiscoveryClient({
    url: `https://${discovery.spec?.clusterIP ?? ''}:8086`, serverName: identityName('skein-controller', 'skein-system', 'cluster.local'),
    credentials: () => {
      const c = identity.current;
      if (!c) throw new Error('the workload has no certificate yet');
      return { cert: [c.certPem, ...c.chainPem].join('\n'), key: c.keyPem, ca: trust.anchorPem };
    },
    namespace: ns,
  });
  t.after(() => client.close());
  return client;
}

/** Skein-made objects still in the cluster, by kind/name; CRDs and Events are meant to stay. */
export async function skeinLeftovers(): Promise<string[]> {
  const named = (await kubectl('get', 'mutatingwebhookconfigurations,validatingwebhookconfigurations,clusterroles,clusterrolebindings,namespaces', '-o', 'name'))
    .split('\n').filter((n) => /\/skein-/.test(n));
  const namespaced = (await kubectl('get', 'roles,rolebindings,leases,serviceaccounts,secrets,configmaps,services,deployments', '-A', '-o', 'custom-columns=KIND:.kind,NS:.metadata.namespace,NAME:.metadata.name', '--no-headers'))
        // The local cluster's nodes are named skein-node-N: their heartbeat Leases are not Skein's.
    .split('\n').filter((l) => !/^Lease\s+kube-node-lease\s/.test(l) && (/\sskein-/.test(l) || /^\S+\s+skein-system\s/.test(l)));
  const trustRoots = (await kubectl('get', 'configmaps', '-A', '-l', 'app.kubernetes.io/managed-by=skein-identity', '-o', 'name')).split('\n');
  return [...named, ...namespaced, ...trustRoots].map((l) => l.trim()).filter(Boolean);
}
