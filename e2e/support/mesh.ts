// Helpers for tests of the meshed data plane: Deployments of the e2e apps
// (with a Service when they listen), waiting for their pods, reading a
// proxy's metrics from its admin port and an app's last JSON report.
import type { TestContext } from 'node:test';
import { CoreV1Api, AppsV1Api, type V1Pod, type V1Container } from '@kubernetes/client-node';
import { kubeConfig, eventually, testNamespace, deployment, containerLog, isReady, kubectl } from './kube.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);

export interface App { name: string; image: string; sa: string; replicas?: number; env?: Record<string, string>; port?: number; labels?: Record<string, string> }

export async function run(ns: string, a: App): Promise<void> {
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: a.sa } } }).catch(() => undefined);
  const container: V1Container = {
    name: 'app', image: a.image,
    env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, ...Object.entries(a.env ?? {}).map(([name, value]) => ({ name, value }))],
    ...(a.port ? { ports: [{ containerPort: a.port }] } : {}),
  };
  await apps.createNamespacedDeployment({ namespace: ns, body: deployment(a.name, a.replicas ?? 1, { serviceAccountName: a.sa, containers: [container] }) });
  if (a.port) {
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: a.name }, spec: { selector: { app: a.name }, ports: [{ port: a.port === 8080 ? 80 : a.port, targetPort: a.port }] } } });
  }
}

export async function readyPods(ns: string, app: string, count: number): Promise<V1Pod[]> {
  return eventually(`${count} ready ${app} pods`, async () => {
    const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` })).items.filter((p) => !p.metadata?.deletionTimestamp);
    return pods.length === count && pods.every(isReady) ? pods : undefined;
  }, 120_000);
}

export const meshed = (pod: V1Pod) => (pod.spec?.initContainers ?? []).some((c) => c.name === 'skein-proxy') || pod.spec?.containers.some((c) => c.name === 'skein-proxy');

export async function clusterIP(ns: string, svc: string): Promise<string> {
  return (await core.readNamespacedService({ namespace: ns, name: svc })).spec?.clusterIP ?? '';
}

export async function metrics(pod: V1Pod): Promise<string> {
  const res = await fetch(`http://${pod.status?.podIP ?? ''}:4191/metrics`);
  return res.text();
}

/** Sum of a metric's series whose labels include all of `want`. */
export function sum(text: string, metric: string, want: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`)) continue;
    const labels = line.slice(metric.length + 1, line.lastIndexOf('}'));
    if (Object.entries(want).every(([k, v]) => labels.includes(`${k}="${v}"`))) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** The last JSON line an app printed. */
export async function lastReport<T>(ns: string, pod: string): Promise<T | undefined> {
  const lines = (await containerLog(ns, pod, 'app')).trim().split('\n').filter((l) => l.startsWith('{'));
  const last = lines.at(-1);
  return last ? JSON.parse(last) as T : undefined;
}

export interface LoadReport {
  sent: number; ok: number; failed: Record<string, number>; byPod: Record<string, number>;
  /** The last few failures in detail (cause, status, proxy error, answering pod): why they failed. */
  failures?: unknown[];
}

export async function meshedNamespace(t: TestContext): Promise<string> {
  const ns = await testNamespace(t, 'mesh');
  await kubectl('annotate', '--overwrite', 'namespace', ns, 'skein.dev/inject=enabled');
  return ns;
}
