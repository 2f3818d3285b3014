// /inject performance: the handler alone (in process), the HTTPS server over
// loopback (keep-alive, 16 connections), and, when a cluster is reachable
// (KUBECONFIG), a burst of 200 pods created at once through the real API
// server with the webhook installed from manifests/base.
import { Agent, request } from 'undici';
import { resolve } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { createCa, issueLeaf, privateKeyPem } from '../shared/tls.ts';
import { createLogger } from '../shared/log.ts';
import { buildServer } from '../webhook/server.ts';
import { createMetrics } from '../webhook/metrics.ts';
import { handleInject, type InjectDeps } from '../webhook/inject-handler.ts';
import { parseReview } from '../webhook/admission.ts';
import { percentile } from './stats.ts';
import { kubectl } from '../e2e/support/kube.ts';
import { IMAGES } from '../e2e/support/images.ts';

const pod: V1Pod = {
  metadata: { generateName: 'web-7d4b9c-', labels: { app: 'web', 'pod-template-hash': '7d4b9c' }, annotations: { 'config.skein.dev/proxy-log-level': 'debug' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d4b9c', uid: 'u', controller: true }] },
  spec: {
    containers: [{
      name: 'web', image: 'example/web:1.2.3', ports: [{ name: 'http', containerPort: 8080 }],
      env: Array.from({ length: 20 }, (_, i) => ({ name: `VAR_${i}`, value: `value-${i}` })),
      readinessProbe: { httpGet: { path: '/ready', port: 'http' } },
      volumeMounts: [{ name: 'kube-api-access-x', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    }],
    volumes: [{ name: 'kube-api-access-x', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }],
  },
};
const body = JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'bench', kind: { group: '', version: 'v1', kind: 'Pod' }, operation: 'CREATE', namespace: 'shop', object: pod } });

const metrics = createMetrics();
const deps: InjectDeps = {
  namespace: () => Promise.resolve({ metadata: { name: 'shop', annotations: { 'skein.dev/inject': 'enabled' } } }),
  report: () => undefined,
  metrics,
  options: { version: 'bench' },
};

const ms = (ns: bigint) => Number(ns) / 1e6;
const fmt = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return `p50 ${percentile(s, 50).toFixed(3)} ms  p99 ${percentile(s, 99).toFixed(3)} ms  max ${percentile(s, 100).toFixed(3)} ms`;
};

async function handlerAlone(n: number): Promise<void> {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await handleInject(parseReview(JSON.parse(body)), deps);
    lat.push(ms(process.hrtime.bigint() - t0));
  }
  console.log(`handler (parse + decide + patch), ${n} pods:           ${fmt(lat)}`);
}

async function overHttps(n: number, connections: number): Promise<void> {
  const ca = await createCa({ commonName: 'bench-ca', validForMs: 3_600_000 });
  const leaf = await issueLeaf(ca, { subject: 'CN=bench', ipAddresses: ['127.0.0.1'], usages: ['server'], validForMs: 3_600_000 });
  const app = buildServer({ tls: { cert: leaf.cert.toString('pem'), key: await privateKeyPem(leaf.keys!.privateKey) }, metrics, logger: createLogger('bench', 'silent'), ready: () => true, handlers: { '/inject': (r) => handleInject(r, deps) } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as { port: number }).port;
  const dispatcher = new Agent({ connect: { ca: ca.cert.toString('pem') }, connections });
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: connections }, async () => {
    while (next++ < n) {
      const s = process.hrtime.bigint();
      const res = await request(`https://127.0.0.1:${port}/inject`, { method: 'POST', body, headers: { 'content-type': 'application/json' }, dispatcher });
      await res.body.text();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      lat.push(ms(process.hrtime.bigint() - s));
    }
  }));
  const secs = (performance.now() - t0) / 1000;
  console.log(`HTTPS round trip, ${n} reviews, ${connections} connections:  ${(n / secs).toFixed(0)} admissions/s  ${fmt(lat)}`);
  await dispatcher.close();
  await app.close();
}

async function burstThroughApiServer(count: number): Promise<void> {
  const { KubeConfig, CoreV1Api } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  const base = resolve(import.meta.dirname, '../manifests/base');
  await kubectl('apply', '-k', base);
  await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-webhook', '--timeout=120s');
  const ns = `bench-inject-${Date.now().toString(36)}`;
  await core.createNamespace({ body: { metadata: { name: ns, annotations: { 'skein.dev/inject': 'enabled' } } } });
  try {
    for (;;) { try { await core.readNamespacedServiceAccount({ name: 'default', namespace: ns }); break; } catch { await new Promise((r) => setTimeout(r, 100)); } }
    // Wait until the webhook answers (its caBundle is in place).
    for (;;) {
      const p = await core.createNamespacedPod({ namespace: ns, body: { metadata: { generateName: 'probe-' }, spec: { containers: [{ name: 'c', image: IMAGES.echo }] } }, dryRun: 'All' });
      if (p.metadata?.annotations?.['skein.dev/injection'] === 'injected') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const t0 = performance.now();
    const results = await Promise.allSettled(Array.from({ length: count }, (_, i) => core.createNamespacedPod({
      namespace: ns, body: { metadata: { name: `burst-${i}` }, spec: { containers: [{ name: 'c', image: IMAGES.echo, ports: [{ containerPort: 8080 }] }] } },
    })));
    const secs = (performance.now() - t0) / 1000;
    const created = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    const injected = created.filter((p) => p.metadata?.annotations?.['skein.dev/injection'] === 'injected').length;
    const rejected = results.length - created.length;
    console.log(`burst through the API server: ${count} pods in ${secs.toFixed(2)} s, created ${created.length}, injected ${injected}, rejected or timed out ${rejected}`);
  } finally {
    await core.deleteNamespace({ name: ns }).catch(() => undefined);
    await kubectl('delete', '-k', base, '--wait=false').catch(() => undefined);
  }
}

await handlerAlone(20_000);
await overHttps(20_000, 16);
if (process.env.KUBECONFIG) await burstThroughApiServer(200);
else console.log('burst through the API server: skipped (no KUBECONFIG; run with make bench)');
