// Data-plane faults under one steady load run (issue #10): a meshed client
// calls a meshed Service at a steady rate while backend pods are deleted
// (gracefully and with grace 0), a node is drained, the trust anchor and then
// the issuer are rotated, and a rollout replaces every pod. Each fault is
// judged on the same load client's reports: failures during the fault at most
// the requests that can be in flight on the pods it killed (the load client
// keeps at most CONNECTIONS requests open), none once it has settled.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { kubeConfig, eventually, kubectl, containerLog, isReady } from '../support/kube.ts';
import { installSkein, workloadIdentity } from '../support/skein.ts';
import { run, readyPods, clusterIP, lastReport, meshedNamespace, type LoadReport } from '../support/mesh.ts';
import { createCa, createIntermediateCa, toPemPair, type KeyedCertificate } from '../../shared/tls.ts';
import { identityName } from '../../api/identity-names.ts';
import type { IdentityClient } from '../../shared/identity-client.ts';
import { IMAGES } from '../support/images.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);

const BACKEND = 'dpf-echo';
const REPLICAS = 3;
/** The most requests the load client has open at once: the bound on requests in flight on a killed pod. */
const CONNECTIONS = 4;
const RPS = 40;
/** Requests the load must complete after a fault settled, with no failure among them (~2 s). */
const SETTLED_REQUESTS = 80;
const DAY = 86_400_000;

type Report = LoadReport & { failures: unknown[] };
const failedTotal = (r: Report) => Object.values(r.failed).reduce((a, b) => a + b, 0);

async function backendPods(ns: string): Promise<V1Pod[]> {
  return (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${BACKEND}` })).items;
}

/** REPLICAS ready backend pods and no other (a terminating pod can still hold connections). */
async function settledBackends(ns: string): Promise<V1Pod[]> {
  return eventually(`${REPLICAS} ready ${BACKEND} pods and none terminating`, async () => {
    const pods = await backendPods(ns);
    return pods.length === REPLICAS && pods.every((p) => isReady(p) && !p.metadata?.deletionTimestamp) ? pods : undefined;
  }, 120_000);
}

async function untilGone(ns: string, names: string[]): Promise<void> {
  await eventually(`${names.join(', ')} gone`, async () => {
    const left = new Set((await backendPods(ns)).map((p) => p.metadata?.name));
    return names.every((n) => !left.has(n)) ? true : undefined;
  }, 120_000);
}

const issuerSecret = async (issuer: KeyedCertificate, anchor: KeyedCertificate) => {
  const p = await toPemPair(issuer);
  return { metadata: { name: 'skein-issuer', namespace: 'skein-system' }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': p.certPem, 'tls.key': p.keyPem, 'ca.crt': `${anchor.cert.toString('pem')}\n` } };
};
const fingerprint = (k: KeyedCertificate) => new X509Certificate(k.cert.toString('pem')).fingerprint256;

/**
 * The leaf a pod's proxy presents to a meshed client (`prober`'s certificate), as peer proxies meet it:
 * through the app's port, which the pod's iptables send to 4143 (the proxy refuses 4143 dialled directly).
 */
function servedLeaf(ip: string, serverId: string, prober: IdentityClient, roots: string): Promise<X509Certificate> {
  const c = prober.current;
  if (!c) return Promise.reject(new Error('the prober has no certificate'));
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: ip, port: 8080, servername: serverId, ALPNProtocols: ['h2'], minVersion: 'TLSv1.3',
      cert: [c.certPem, ...c.chainPem].join('\n'), key: c.keyPem, ca: roots, rejectUnauthorized: false,
    }, () => {
      const cert = s.getPeerX509Certificate();
      s.destroy();
      if (cert) resolve(cert); else reject(new Error(`${ip}:8080 presented no certificate`));
    });
    s.on('error', reject);
    s.setTimeout(5_000, () => s.destroy(new Error(`${ip}:8080: no TLS handshake within 5 s`)));
  });
}

test('data-plane faults under steady load: pod kills, a node drain, anchor and issuer rotation, a rollout', { timeout: 420_000 }, async (t) => {
  const { trust } = await installSkein(t);
  const ns = await meshedNamespace(t);
  await run(ns, { name: BACKEND, image: IMAGES.echo, sa: 'backend', replicas: REPLICAS, port: 8080 });
  await settledBackends(ns);
  await run(ns, { name: 'load', image: IMAGES.load, sa: 'load', env: { TARGET: `http://${await clusterIP(ns, BACKEND)}/`, RPS: String(RPS), CONNECTIONS: String(CONNECTIONS) } });
  const [loadPod] = await readyPods(ns, 'load', 1);
  const loadName = loadPod?.metadata?.name ?? '';
  const report = async (atLeast = 0): Promise<Report> => eventually(`load report with ≥ ${atLeast} sent`, async () => {
    const r = await lastReport<Report>(ns, loadName);
    return r && r.sent >= atLeast ? r : undefined;
  }, 60_000);
  const warm = await report(RPS * 2);
  assert.deepEqual(warm.failed, {}, `the load runs clean before any fault: ${JSON.stringify(warm.failures)}`);

  /** Runs one fault under the load; `act` returns once the fault has settled (pods replaced, killed ones gone). */
  const fault = async (st: TestContext, name: string, maxFailures: number, act: () => Promise<void>) => {
    const before = await report();
    await act();
    const settled = await report();
    const after = await report(settled.sent + SETTLED_REQUESTS);
    const during = failedTotal(settled) - failedTotal(before);
    const later = failedTotal(after) - failedTotal(settled);
    st.diagnostic(`${name}: ${settled.sent - before.sent} requests during the fault, ${during} failed; ${after.sent - settled.sent} after it, ${later} failed`);
    const details = JSON.stringify(after.failures);
    assert.ok(during <= maxFailures, `${name}: ${during} failures, more than the ${maxFailures} allowed; the last failures: ${details}`);
    assert.equal(later, 0, `${name}: failures after the fault settled; the last failures: ${details}`);
  };

  await t.test('a backend pod deleted gracefully: nothing fails', async (st) => {
    await fault(st, 'graceful delete', 0, async () => {
      const [victim] = await settledBackends(ns);
      const name = victim?.metadata?.name ?? '';
      await kubectl('-n', ns, 'delete', 'pod', name, '--wait=false');
      await untilGone(ns, [name]);
      await settledBackends(ns);
    });
  });

  await t.test('a backend pod killed with grace 0: at most the requests in flight on it fail, none afterwards', async (st) => {
    await fault(st, 'grace-0 kill', CONNECTIONS, async () => {
      const [victim] = await settledBackends(ns);
      await kubectl('-n', ns, 'delete', 'pod', victim?.metadata?.name ?? '', '--grace-period=0', '--force', '--wait=false');
      await settledBackends(ns);
    });
  });

  await t.test('a node drained (cordoned, its backend pods evicted): replacements land on the other node, failures bounded, none afterwards', async (st) => {
    const nodes = (await core.listNode()).items.map((n) => n.metadata?.name ?? '');
    assert.ok(nodes.length >= 2, 'the local cluster has two Nodes');
    await fault(st, 'node drain', CONNECTIONS, async () => {
      const pods = await settledBackends(ns);
      const busiest = nodes.map((n) => ({ n, pods: pods.filter((p) => p.spec?.nodeName === n) })).sort((a, b) => b.pods.length - a.pods.length)[0];
      const node = busiest?.n ?? '';
      const evicted = busiest?.pods.map((p) => p.metadata?.name ?? '') ?? [];
      const earlier = new Set(pods.map((p) => p.metadata?.name ?? ''));
      // Other tests share the cluster: the cordon lasts only until the replacements are placed.
      await kubectl('cordon', node);
      try {
        for (const name of evicted) await core.createNamespacedPodEviction({ name, namespace: ns, body: { apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name, namespace: ns } } });
        await untilGone(ns, evicted);
        const replacements = (await settledBackends(ns)).filter((p) => !earlier.has(p.metadata?.name ?? ''));
        assert.equal(replacements.length, evicted.length, 'each evicted pod was replaced');
        assert.ok(replacements.every((p) => p.spec?.nodeName !== node), `no replacement landed on the cordoned ${node}`);
      } finally {
        await kubectl('uncordon', node);
      }
    });
  });

  const installedAnchor = (await core.readNamespacedConfigMap({ namespace: 'skein-system', name: 'skein-trust-anchors' })).data?.['ca-bundle.crt'] ?? '';
  const anchor = await createCa({ commonName: 'dpf-anchor-2', validForMs: 10 * DAY, pathLength: 1 });
  const issuers = await Promise.all(['dpf-issuer-2a', 'dpf-issuer-2b'].map((cn) => createIntermediateCa(anchor, { commonName: cn, validForMs: 5 * DAY })));
  const [issuerA, issuerB] = issuers as [KeyedCertificate, KeyedCertificate];
  const bothAnchors = `${installedAnchor.trimEnd()}\n${anchor.cert.toString('pem')}\n`;
  const issuerInUse = async () => (await kubectl('get', 'meshidentity', 'default', '-o', 'jsonpath={.status.issuer.fingerprintSHA256}')).trim();
  const switchIssuer = async (issuer: KeyedCertificate) => {
    await kubectl('-n', 'skein-system', 'delete', 'secret', 'skein-issuer', '--ignore-not-found');
    await core.createNamespacedSecret({ namespace: 'skein-system', body: await issuerSecret(issuer, anchor) });
    await eventually(`skein-identity signs with ${issuer.cert.subject}`, async () => (await issuerInUse()) === fingerprint(issuer) ? true : undefined, 60_000);
  };

  await t.test('trust-anchor rotation with overlap, then issuer rotation under the same anchor: nothing fails', async (st) => {
    await fault(st, 'anchor added, issuer switched to the new anchor, issuer rotated', 0, async () => {
      await core.replaceNamespacedConfigMap({
        namespace: 'skein-system', name: 'skein-trust-anchors',
        body: { metadata: { name: 'skein-trust-anchors', namespace: 'skein-system' }, data: { 'ca-bundle.crt': bothAnchors } },
      });
      // Every proxy must trust both anchors before anything is signed under the new one.
      const pods = [...await settledBackends(ns), loadPod as V1Pod];
      await eventually('every proxy re-read the trust roots with both anchors', async () => {
        const logs = await Promise.all(pods.map((p) => containerLog(ns, p.metadata?.name ?? '', 'skein-proxy')));
        return logs.every((l) => l.split('\n').some((line) => line.includes('trust roots changed') && line.includes('"certificates":2'))) ? true : undefined;
      }, 90_000);
      await switchIssuer(issuerA);
      await switchIssuer(issuerB);
    });
  });

  await t.test('a rollout replaces every backend pod: nothing fails, and the new proxies hold leaves of the new issuer', async (st) => {
    await fault(st, 'rollout restart', 0, async () => {
      const old = (await backendPods(ns)).map((p) => p.metadata?.name ?? '');
      await kubectl('-n', ns, 'rollout', 'restart', `deployment/${BACKEND}`);
      await kubectl('-n', ns, 'rollout', 'status', `deployment/${BACKEND}`, '--timeout=120s');
      await untilGone(ns, old);
      await settledBackends(ns);
    });
    const issuer = new X509Certificate(issuerB.cert.toString('pem'));
    const prober = await workloadIdentity(t, { ...trust, anchorPem: bothAnchors }, ns, 'prober');
    for (const pod of await settledBackends(ns)) {
      const leaf = await servedLeaf(pod.status?.podIP ?? '', identityName('backend', ns, 'cluster.local'), prober, bothAnchors);
      assert.ok(leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey), `${pod.metadata?.name ?? ''} presents a leaf of ${issuer.subject}, not of ${leaf.issuer}`);
    }
  });

  const final = await report();
  t.diagnostic(`load over every fault: ${final.sent} sent, ${final.ok} ok, failed ${JSON.stringify(final.failed)}`);
});
