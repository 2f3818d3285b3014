// The HA overlay exactly as shipped (three webhook replicas on three nodes,
// failurePolicy Fail): every replica serves the one certificate in Secret
// skein-webhook-serving, and a burst of pod creations goes through a killed
// replica and a rolled Deployment without a single rejection. Before #19
// each replica made its own CA and the last to start won, so two admission
// calls in three failed TLS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, AdmissionregistrationV1Api, type V1Pod } from '@kubernetes/client-node';
import { kubeConfig, eventually, kubectl, isReady } from '../support/kube.ts';
import { installSkein, REPO } from '../support/skein.ts';
import { meshedNamespace, meshed } from '../support/mesh.ts';
import { IMAGES } from '../support/images.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const HA = join(REPO, 'manifests/overlays/ha');
const FAST_ROTATION = join(REPO, 'e2e/testbed/fast-rotation');
const WEBHOOK = 'app.kubernetes.io/name=skein-webhook';

/** The bounds of the burst: it stops by itself at whichever comes first. */
const BURST = { maxPods: 200, minPods: 60, maxMs: 180_000, everyMs: 250, concurrency: 4 };

/** What a replica presents on its TLS port (straight to the pod, not through the Service). */
function servedCertificate(ip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: ip, port: 8443, servername: 'skein-webhook.skein-system.svc', rejectUnauthorized: false }, () => {
      resolve(new X509Certificate(s.getPeerCertificate().raw).fingerprint256);
      s.destroy();
    });
    s.on('error', reject);
    s.setTimeout(5_000, () => { s.destroy(); reject(new Error(`no TLS answer from ${ip}:8443`)); });
  });
}

async function webhookPods(): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace: 'skein-system', labelSelector: WEBHOOK })).items.filter((p) => !p.metadata?.deletionTimestamp);
}

/**
 * Creates pods in `ns` at a steady pace while `during` runs (and at least
 * `minPods`), bounded by BURST; returns how many it created and every refusal.
 */
async function burstWhile(ns: string, minPods: number, during: () => Promise<void>): Promise<{ created: number; rejected: string[] }> {
  const rejected: string[] = [];
  let created = 0;
  let done = false;
  const started = Date.now();
  const burst = (async () => {
    const inFlight = new Set<Promise<void>>();
    for (let i = 0; i < BURST.maxPods && Date.now() - started < BURST.maxMs; i++) {
      if (done && i >= minPods) break;
      const p = core.createNamespacedPod({ namespace: ns, body: burstPod(i) }).then(() => undefined, (err: unknown) => {
        rejected.push(`burst-${i}: ${err instanceof Error ? err.message.slice(0, 300) : String(err)}`);
      }).finally(() => inFlight.delete(p));
      inFlight.add(p);
      created++;
      if (inFlight.size >= BURST.concurrency) await Promise.race(inFlight);
      await sleep(BURST.everyMs);
    }
    await Promise.all(inFlight);
  })();
  try {
    await during();
  } finally {
    done = true;
    await burst;
  }
  return { created, rejected };
}

/** Every pod in `ns` stored and injected. */
async function assertAllInjected(ns: string, created: number): Promise<void> {
  const pods = (await core.listNamespacedPod({ namespace: ns })).items;
  assert.equal(pods.length, created, 'every creation stored a pod');
  const unmeshed = pods.filter((p) => !meshed(p) || p.metadata?.annotations?.['skein.dev/injection'] !== 'injected').map((p) => p.metadata?.name);
  assert.deepEqual(unmeshed, [], 'every pod was injected');
}

/** A pod no node may run (a nodeSelector nothing has): admission and storage are real, the machine's two cores are spared. */
const burstPod = (i: number): V1Pod => ({
  metadata: { name: `burst-${String(i).padStart(3, '0')}` },
  spec: { nodeSelector: { 'skein.dev/e2e-nowhere': 'true' }, containers: [{ name: 'app', image: IMAGES.echo, ports: [{ containerPort: 8080 }] }] },
});

test('HA overlay as shipped: one serving certificate on every replica, and no pod rejected while a replica is killed and the webhook rolled', { timeout: 600_000 }, async (t) => {
  const nodes = (await core.listNode()).items.filter((n) => !n.spec?.unschedulable);
  assert.ok(nodes.length >= 3, `the HA overlay needs three schedulable nodes for its hard anti-affinity; this cluster has ${nodes.length}`);
  await installSkein(t, 'cluster.local', HA);

  await t.test('every replica serves the Secret\'s certificate, and the caBundle trusts its CA', async () => {
    const pods = await eventually('three ready webhook replicas', async () => {
      const p = (await webhookPods()).filter(isReady);
      return p.length === 3 ? p : undefined;
    }, 180_000);
    assert.equal(new Set(pods.map((p) => p.spec?.nodeName)).size, 3, 'on three nodes');
    const secret = await core.readNamespacedSecret({ namespace: 'skein-system', name: 'skein-webhook-serving' });
    const data = secret.data ?? {};
    const want = new X509Certificate(Buffer.from(data['tls.crt'] ?? '', 'base64')).fingerprint256;
    for (const pod of pods) assert.equal(await servedCertificate(pod.status?.podIP ?? ''), want, `${pod.metadata?.name ?? ''} serves the shared certificate`);
    const mwc = await kc.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: 'skein-webhook' });
    const bundle = Buffer.from(mwc.webhooks?.[0]?.clientConfig.caBundle ?? '', 'base64').toString('utf8');
    for (const key of ['ca.crt', 'next-ca.crt']) assert.ok(bundle.includes(Buffer.from(data[key] ?? '', 'base64').toString('utf8').trim()), `the caBundle trusts ${key}`);
    assert.equal(mwc.webhooks?.[0]?.failurePolicy, 'Fail', 'the overlay as shipped fails closed');
  });

  await t.test(`a burst of up to ${BURST.maxPods} pods while one replica is killed and the Deployment rolled: every one admitted and injected`, async (t) => {
    const ns = await meshedNamespace(t);
    const started = Date.now();
    const { created, rejected } = await burstWhile(ns, BURST.minPods, async () => {
      // While the burst runs: kill one replica outright, then roll the Deployment and wait for the rollout.
      await sleep(3_000);
      const [victim] = await webhookPods();
      await kubectl('-n', 'skein-system', 'delete', 'pod', victim?.metadata?.name ?? '', '--grace-period=0', '--force', '--wait=false');
      t.diagnostic(`killed ${victim?.metadata?.name ?? ''}`);
      await eventually('three ready replicas again', async () => ((await webhookPods()).filter(isReady).length === 3 ? true : undefined), 180_000);
      await kubectl('-n', 'skein-system', 'rollout', 'restart', 'deployment/skein-webhook');
      await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-webhook', '--timeout=240s');
      t.diagnostic(`rollout done after ${Math.round((Date.now() - started) / 1000)} s`);
    });
    t.diagnostic(`${created} pod creations in ${Math.round((Date.now() - started) / 1000)} s, ${rejected.length} rejected`);
    assert.deepEqual(rejected, [], 'no pod creation was rejected');
    await assertAllInjected(ns, created);
    assert.ok(created >= BURST.minPods, `the burst spanned the kill and the rollout (${created} pods)`);
  });
});

test('a serving certificate that rotates every 30 s (two replicas, failurePolicy Fail): two rotations under a burst of pod creations, none rejected', { timeout: 600_000 }, async (t) => {
  await installSkein(t, 'cluster.local', FAST_ROTATION);
  await eventually('two ready webhook replicas', async () => ((await webhookPods()).filter(isReady).length === 2 ? true : undefined), 180_000);
  const serving = async () => (await core.readNamespacedSecret({ namespace: 'skein-system', name: 'skein-webhook-serving' })).data?.['tls.crt'] ?? '';
  const seen = [await serving()];
  const ns = await meshedNamespace(t);
  const started = Date.now();
  const { created, rejected } = await burstWhile(ns, 0, async () => {
    await eventually('two rotations of the shared certificate', async () => {
      const now = await serving();
      if (now !== seen.at(-1)) { seen.push(now); t.diagnostic(`rotated after ${Math.round((Date.now() - started) / 1000)} s`); }
      return seen.length >= 3 ? true : undefined;
    }, 150_000);
  });
  t.diagnostic(`${created} pod creations in ${Math.round((Date.now() - started) / 1000)} s across ${seen.length - 1} rotations, ${rejected.length} rejected`);
  assert.deepEqual(rejected, [], 'no pod creation was rejected');
  await assertAllInjected(ns, created);
  // Both replicas serve the latest certificate once they have seen it.
  const latest = new X509Certificate(Buffer.from(seen.at(-1) ?? '', 'base64')).fingerprint256;
  const pods = (await webhookPods()).filter(isReady);
  for (const pod of pods) {
    await eventually(`${pod.metadata?.name ?? ''} serves the rotated certificate`, async () => {
      const now = await servedCertificate(pod.status?.podIP ?? '');
      return now === latest || now === new X509Certificate(Buffer.from(await serving(), 'base64')).fingerprint256 ? true : undefined;
    }, 30_000);
  }
});
