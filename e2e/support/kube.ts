// What every cluster test needs: clients for the cluster `make test` brought
// up (KUBECONFIG), a namespace of its own, and a way to wait for a condition.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestContext } from 'node:test';
import { KubeConfig, CoreV1Api, ApiException, type V1Pod, type V1PodSpec, type V1Deployment } from '@kubernetes/client-node';

export function kubeConfig(): KubeConfig {
  if (!process.env.KUBECONFIG) {
    throw new Error('KUBECONFIG is not set: run cluster tests through `make e2e` (or `node e2e/cluster/cluster.ts run -- node --test ...`)');
  }
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}

export function isNotFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

/** Polls `fn` until it returns a value other than undefined, or fails with what it last saw. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    await sleep(200);
  }
  const cause = lastError instanceof Error ? `: last error ${lastError.message}` : '';
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${cause}`);
}

/** A fresh namespace for one test, ready for pods (its default ServiceAccount exists), deleted when the test ends. */
export async function testNamespace(t: TestContext, prefix = 'e2e'): Promise<string> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'skein.dev/e2e': 'true' } } } });
  t.after(async () => {
    await core.deleteNamespace({ name }).catch((err: unknown) => { if (!isNotFound(err)) throw err; });
  });
  await eventually('default ServiceAccount', async () => core.readNamespacedServiceAccount({ name: 'default', namespace: name }));
  return name;
}

/** A Deployment of `replicas` pods labelled `app: <name>`. */
export function deployment(name: string, replicas: number, spec: V1PodSpec): V1Deployment {
  const labels = { app: name };
  return { metadata: { name }, spec: { replicas, selector: { matchLabels: labels }, template: { metadata: { labels }, spec } } };
}

/**
 * A container's output through the API server and the kubelet, as `kubectl
 * logs` reads it (empty while there is none); `<name>.previous` is the run
 * before the current one.
 */
export async function containerLog(namespace: string, pod: string, container: string): Promise<string> {
  const previous = container.endsWith('.previous');
  const name = previous ? container.slice(0, -'.previous'.length) : container;
  const core = kubeConfig().makeApiClient(CoreV1Api);
  return core.readNamespacedPodLog({ namespace, name: pod, container: name, previous }).catch(() => '');
}

export async function waitForPod(namespace: string, name: string, predicate: (pod: V1Pod) => boolean, what: string, timeoutMs = 60_000): Promise<V1Pod> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  return eventually(`pod ${name}: ${what}`, async () => {
    const pod = await core.readNamespacedPod({ name, namespace });
    return predicate(pod) ? pod : undefined;
  }, timeoutMs);
}

export const isReady = (pod: V1Pod) => pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/** kubectl of the cluster's version, from the binary cache (`make e2e` passes it as SKEIN_K8S_BIN). */
export async function kubectl(...args: string[]): Promise<string> {
  const { execFile } = await import('node:child_process');
  const { promisify } = await import('node:util');
  const run = promisify(execFile);
  let bin = process.env.SKEIN_K8S_BIN;
  if (!bin) bin = (await run(join(import.meta.dirname, '..', 'cluster', 'build-binaries.sh'))).stdout.trim().split('\n').pop() ?? '';
  const { stdout } = await run(join(bin, 'kubectl'), ['--kubeconfig', process.env.KUBECONFIG ?? '', ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}
