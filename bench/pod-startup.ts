// Pod start time on the local cluster: from the create call to the moment a
// watch sees the pod Ready, measured on this client's clock (API timestamps
// have one-second resolution). Runs of 50 pods: paced (one every 250 ms, so
// each pod starts on an idle node) and a burst (all 50 at once), first
// without the mesh, then with Skein installed (`kubectl skein install`) in a
// namespace annotated for injection, where a pod is Ready once its proxy has
// a certificate and its app answers. Skein is uninstalled at the end.
import { randomBytes } from 'node:crypto';
import { KubeConfig, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { Informer } from '../shared/informer.ts';
import { percentile } from './stats.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { IMAGES } from '../e2e/support/images.ts';
import { kubectl } from '../e2e/support/kube.ts';
import { injectionWorks, pipeSkein } from '../e2e/support/skein.ts';

const PODS = Number(process.env.PODS ?? 50);
const kc = new KubeConfig();
kc.loadFromDefault();
const core = kc.makeApiClient(CoreV1Api);

function podSpec(name: string): V1Pod {
  return {
    metadata: { name, labels: { bench: 'pod-startup' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [{
        name: 'echo',
        image: IMAGES.echo,
        readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
      }],
    },
  };
}

async function measure(label: string, paceMs: number, meshed: boolean): Promise<void> {
  const namespace = `bench-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name: namespace, ...(meshed ? { annotations: { 'skein.dev/inject': 'enabled' } } : {}) } } });
  try {
    for (;;) {
      try { await core.readNamespacedServiceAccount({ name: 'default', namespace }); break; } catch { await sleep(100); }
    }
    const created = new Map<string, number>();
    const readyAfter = new Map<string, number>();
    const injected = new Set<string>();
    let resolveAll!: () => void;
    const allReady = new Promise<void>((r) => { resolveAll = r; });
    // The informer resumes a watch that ends, so no Ready transition is missed.
    const informer = new Informer<V1Pod>({ kubeConfig: kc, path: `/api/v1/namespaces/${namespace}/pods`, onEvent: (_type, pod) => {
      const name = pod.metadata?.name ?? '';
      if (pod.metadata?.annotations?.['skein.dev/injection'] === 'injected') injected.add(name);
      const start = created.get(name);
      const ready = pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      if (start !== undefined && ready && !readyAfter.has(name)) {
        readyAfter.set(name, performance.now() - start);
        if (readyAfter.size === PODS) resolveAll();
      }
    } });
    informer.start();
    await informer.synced;
    const t0 = performance.now();
    const creates: Promise<unknown>[] = [];
    for (let i = 0; i < PODS; i++) {
      const name = `p${i}`;
      created.set(name, performance.now());
      creates.push(core.createNamespacedPod({ namespace, body: podSpec(name) }));
      if (paceMs > 0) await sleep(paceMs);
    }
    await Promise.all(creates);
    await Promise.race([allReady, sleep(180_000)]);
    informer.stop();
    const total = (performance.now() - t0) / 1000;
    const lat = [...readyAfter.values()].sort((a, b) => a - b);
    console.log(`${label.padEnd(28)} ready ${String(lat.length).padStart(3)}/${PODS}  median ${(percentile(lat, 50) / 1000).toFixed(2)} s  p99 ${(percentile(lat, 99) / 1000).toFixed(2)} s  max ${(percentile(lat, 100) / 1000).toFixed(2)} s  all ready after ${total.toFixed(1)} s  injected ${injected.size}`);
  } finally {
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }
}

console.log(`pod start (create -> Ready), ${PODS} pods, echo app with a 1 s TCP readiness probe`);
await measure('paced (1 every 250 ms)', 250, false);
await measure('burst (all at once)', 0, false);

// The local cluster's pods and Services live in 198.18.0.0/15, as in `make demo`.
await pipeSkein('install --cluster-networks 198.18.0.0/15', 'apply --server-side -f -');
try {
  for (const d of ['skein-identity', 'skein-controller', 'skein-webhook']) await kubectl('-n', 'skein-system', 'rollout', 'status', `deployment/${d}`, '--timeout=180s');
  await injectionWorks();
  await measure('injected, paced', 250, true);
  await measure('injected, burst', 0, true);
} finally {
  await pipeSkein('uninstall', 'delete --ignore-not-found --wait=true -f -');
}
