// Traffic policy enforced end to end (issue #8's "Tests that must exist"):
// real proxies on the real nodes, policy objects applied through the real
// API server and reconciled by the installed skein-controller. A canary
// shifted by TrafficSplit in three API versions, retries and a route timeout
// from a ServiceProfile, circuit breaking of a failing pod, and
// AuthorizationPolicy with the default inbound policies. Invalid objects of
// each kind are covered by validate.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppsV1Api, CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { kubeConfig, eventually, testNamespace, kubectl, isReady } from '../support/kube.ts';
import { installSkein } from '../support/skein.ts';
import { run, readyPods, clusterIP, metrics, sum, lastReport, meshedNamespace, type LoadReport } from '../support/mesh.ts';
import { IMAGES } from '../support/images.ts';

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const ECHO = IMAGES.echo;
const LOAD = IMAGES.load;
const name = (pod: V1Pod | undefined) => pod?.metadata?.name ?? '';

/** kubectl apply of one object, the way a user or a GitOps tool writes it. */
async function apply(ns: string, object: object): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'skein-policy-'));
  try {
    writeFileSync(join(dir, 'object.json'), JSON.stringify(object));
    await kubectl('-n', ns, 'apply', '-f', join(dir, 'object.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A report newer than `after` (the load app prints one a second). */
async function nextReport(ns: string, pod: string, after: LoadReport | undefined): Promise<LoadReport> {
  return eventually(`a new report from ${pod}`, async () => {
    const r = await lastReport<LoadReport>(ns, pod);
    return r && r.sent > (after?.sent ?? -1) ? r : undefined;
  }, 30_000);
}

/** Requests answered between two reports, and the share answered by pods whose name starts with `prefix`. */
function podShare(from: LoadReport, to: LoadReport, prefix: string): { n: number; share: number } {
  let n = 0;
  let hit = 0;
  for (const [pod, count] of Object.entries(to.byPod)) {
    const d = count - (from.byPod[pod] ?? 0);
    n += d;
    if (pod.startsWith(prefix)) hit += d;
  }
  return { n, share: n > 0 ? hit / n : 0 };
}

/** Four binomial standard deviations: a correct split falls outside with probability about 6e-5. */
const binomialBound = (p: number, n: number) => 4 * Math.sqrt((p * (1 - p)) / n);
const withinBound = (share: number, p: number, n: number) => Math.abs(share - p) <= binomialBound(p, n) + 1e-9;

const failedCount = (r: LoadReport) => Object.values(r.failed).reduce((a, b) => a + b, 0);

/** What an unmeshed client (the test host) gets from a pod: an HTTP status, or the connection error. */
async function fromHost(url: string): Promise<string> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    await res.text();
    return `http_${res.status}`;
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return cause?.code ?? String(err);
  }
}

const setFailRate = async (pod: V1Pod, failRate: number) => {
  const res = await fetch(`http://${pod.status?.podIP ?? ''}:8080/control`, { method: 'POST', body: JSON.stringify({ failRate }) });
  assert.equal(res.status, 204, `failRate ${failRate} set on ${name(pod)}`);
};

/** An echo Deployment with probes on /ready and pod annotations, behind a Service on port 80. */
async function probedEcho(ns: string, app: string, annotations: Record<string, string>): Promise<void> {
  await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: app } } });
  const readinessProbe = { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 2, failureThreshold: 1 };
  const livenessProbe = { ...readinessProbe, initialDelaySeconds: 10, failureThreshold: 2 };
  await apps.createNamespacedDeployment({ namespace: ns, body: {
    metadata: { name: app },
    spec: { replicas: 1, selector: { matchLabels: { app } }, template: {
      metadata: { labels: { app }, annotations },
      spec: { serviceAccountName: app, containers: [{
        name: 'app', image: ECHO, ports: [{ containerPort: 8080 }], readinessProbe, livenessProbe,
        env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
      }] },
    } },
  } });
  await core.createNamespacedService({ namespace: ns, body: { metadata: { name: app }, spec: { selector: { app }, ports: [{ port: 80, targetPort: 8080 }] } } });
}

test('traffic policy enforced by the proxies: canary, retries and timeouts, circuit breaking, authorization', { timeout: 900_000 }, async (t) => {
  await installSkein(t);

  await t.test('canary: TrafficSplit 90/10, 50/50, 0/100 written as v1alpha4, v1alpha2 and v1alpha1, observed over ≥1,000 requests each with no failure', async (t) => {
    const ns = await meshedNamespace(t);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'books' } } });
    for (const [version, replicas] of [['v1', 2], ['v2', 1]] as const) {
      const labels = { app: 'books', version };
      await apps.createNamespacedDeployment({ namespace: ns, body: {
        metadata: { name: `books-${version}` },
        spec: { replicas, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { serviceAccountName: 'books', containers: [{
          name: 'app', image: ECHO, ports: [{ containerPort: 8080 }], env: [{ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }],
        }] } } },
      } });
      await core.createNamespacedService({ namespace: ns, body: { metadata: { name: `books-${version}` }, spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] } } });
    }
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'books' }, spec: { selector: { app: 'books' }, ports: [{ port: 80, targetPort: 8080 }] } } });
    await readyPods(ns, 'books', 3);
    await run(ns, { name: 'web', image: LOAD, sa: 'web', env: { TARGET: `http://${await clusterIP(ns, 'books')}/`, RPS: '100' } });
    const web = name((await readyPods(ns, 'web', 1))[0]);
    await eventually('the root Service answers from all three pods', async () => {
      const r = await lastReport<LoadReport>(ns, web);
      return r && Object.keys(r.byPod).length === 3 ? r : undefined;
    }, 90_000);

    const split = (apiVersion: string, v1: number | string, v2: number | string) => ({
      apiVersion: `split.smi-spec.io/${apiVersion}`, kind: 'TrafficSplit', metadata: { name: 'books' },
      spec: { service: 'books', backends: [{ service: 'books-v1', weight: v1 }, { service: 'books-v2', weight: v2 }] },
    });
    const phases = [
      { what: '90/10 (v1alpha4)', object: split('v1alpha4', 90, 10), v2: 0.1 },
      { what: '50/50 (v1alpha2, as Argo Rollouts writes it)', object: split('v1alpha2', 50, 50), v2: 0.5 },
      { what: '0/100 (v1alpha1 quantities, as Flagger writes them)', object: split('v1alpha1', 0, '1000m'), v2: 1 },
    ];
    const notes: string[] = [];
    for (const phase of phases) {
      const applied = Date.now();
      await apply(ns, phase.object);
      // In effect once a window of reports (~200 requests) shows the new share.
      let prev = await nextReport(ns, web, undefined);
      const inEffect = await eventually(`${phase.what} in effect`, async () => {
        await sleep(2_000);
        const cur = await nextReport(ns, web, prev);
        const w = podShare(prev, cur, 'books-v2-');
        prev = cur;
        return w.n >= 100 && withinBound(w.share, phase.v2, w.n) ? cur : undefined;
      }, 60_000);
      const tookMs = Date.now() - applied;
      const counted = await eventually(`≥1,000 requests under ${phase.what}`, async () => {
        await sleep(1_000);
        const cur = await nextReport(ns, web, inEffect);
        return podShare(inEffect, cur, '').n >= 1_000 ? cur : undefined;
      }, 60_000);
      const { n, share } = podShare(inEffect, counted, 'books-v2-');
      notes.push(`${phase.what}: in effect within ${tookMs} ms (report granularity 1 s), v2 share ${(share * 100).toFixed(1)} % of ${n}`);
      assert.ok(withinBound(share, phase.v2, n), `${phase.what}: v2 share ${share.toFixed(3)} over ${n} requests is within 4σ (${binomialBound(phase.v2, n).toFixed(3)}) of ${phase.v2}`);
      assert.deepEqual(counted.failed, {}, `${phase.what}: no request failed during the shifts`);
    }
    t.diagnostic(`canary: ${notes.join('; ')}`);
  });

  await t.test('retries rescue a retryable GET but not a POST, the budget caps them, and a route timeout answers 504', async (t) => {
    const ns = await meshedNamespace(t);
    await run(ns, { name: 'authors', image: ECHO, sa: 'authors', replicas: 2, port: 8080, env: { FAIL_RATE: '0.3' } });
    const authors = await readyPods(ns, 'authors', 2);
    await apply(ns, {
      apiVersion: 'skein.dev/v1alpha1', kind: 'ServiceProfile', metadata: { name: `authors.${ns}.svc.cluster.local` },
      spec: {
        routes: [
          { name: 'GET /authors', condition: { method: 'GET', pathRegex: '/authors(/.*)?' }, isRetryable: true },
          { name: 'POST /authors', condition: { method: 'POST', pathRegex: '/authors' } },
          { name: 'GET /delay', condition: { method: 'GET', pathRegex: '/delay/[0-9]+' }, timeout: '200ms' },
        ],
        retryBudget: { retryRatio: 0.2, minRetriesPerSecond: 10, ttl: '10s' },
      },
    });
    const ip = await clusterIP(ns, 'authors');
    await run(ns, { name: 'get', image: LOAD, sa: 'web', env: { TARGET: `http://${ip}/authors/1`, RPS: '20' } });
    await run(ns, { name: 'post', image: LOAD, sa: 'web', env: { TARGET: `http://${ip}/authors`, RPS: '20', METHOD: 'POST' } });
    const [getPod] = await readyPods(ns, 'get', 1);
    const [postPod] = await readyPods(ns, 'post', 1);
    // The profile reaches a proxy when it first resolves the Service; count from a point where routes are labelled.
    await eventually('the GET route is seen by the client proxy', async () => sum(await metrics(getPod as V1Pod), 'request_total', { direction: 'outbound', route: 'GET /authors' }) > 0 || undefined, 60_000);
    await eventually('the POST route is seen by the client proxy', async () => sum(await metrics(postPod as V1Pod), 'request_total', { direction: 'outbound', route: 'POST /authors' }) > 0 || undefined, 60_000);
    const get0 = await nextReport(ns, name(getPod), undefined);
    const post0 = await nextReport(ns, name(postPod), undefined);
    await sleep(20_000);
    const get1 = await nextReport(ns, name(getPod), get0);
    const post1 = await nextReport(ns, name(postPod), post0);
    const getN = get1.sent - get0.sent;
    const postN = post1.sent - post0.sent;
    const getFailed = (failedCount(get1) - failedCount(get0)) / getN;
    const postFailed = (failedCount(post1) - failedCount(post0)) / postN;
    t.diagnostic(`failure rates at FAIL_RATE 0.3: GET ${(getFailed * 100).toFixed(1)} % of ${getN}, POST ${(postFailed * 100).toFixed(1)} % of ${postN}`);
    // Three attempts fail together with probability 0.3³ = 2.7 %; 4σ above that over ≥300 requests stays below 6 %.
    assert.ok(getN >= 300 && getFailed < 0.06, `retries rescue the GETs: ${getFailed}`);
    assert.ok(postN >= 300 && withinBound(postFailed, 0.3, postN), `a POST is not retried: ${postFailed} of ${postN} failed, about 0.3`);
    const postText = await metrics(postPod as V1Pod);
    assert.equal(sum(postText, 'retry_total', { route: 'POST /authors', result: 'retried' }), 0, 'no POST retried');

    // The budget: at 90 % failures the GETs want far more retries than 20 % of requests + 10/s.
    const before = await metrics(getPod as V1Pod);
    const reqBefore = sum(before, 'request_total', { direction: 'outbound', route: 'GET /authors' });
    const retriedBefore = sum(before, 'retry_total', { route: 'GET /authors', result: 'retried' });
    const started = Date.now();
    for (const p of authors) await setFailRate(p, 0.9);
    t.after(async () => { for (const p of authors) await setFailRate(p, 0.3).catch(() => undefined); });
    await sleep(10_000);
    const after = await metrics(getPod as V1Pod);
    const seconds = (Date.now() - started) / 1000;
    for (const p of authors) await setFailRate(p, 0.3);
    const exhausted = sum(after, 'retry_total', { route: 'GET /authors', result: 'budget_exhausted' });
    const retried = sum(after, 'retry_total', { route: 'GET /authors', result: 'retried' }) - retriedBefore;
    const requests = sum(after, 'request_total', { direction: 'outbound', route: 'GET /authors' }) - reqBefore;
    t.diagnostic(`budget at FAIL_RATE 0.9 for ${seconds.toFixed(1)} s: ${retried} retries for ${requests} requests, ${exhausted} refused by the budget`);
    assert.ok(exhausted > 0, 'retry_total{result="budget_exhausted"} grew');
    // Whatever counts as a request (first attempts or every attempt), retries stay within ratio × requests + min/s × (window + ttl).
    assert.ok(retried <= 0.2 * requests + 10 * (seconds + 10), `retries ${retried} within the budget for ${requests} requests`);

    // The local node serves no exec: meshed clients are load pods, so the 504's skein-proxy-error header is checked by the proxy's unit tests, its metric label here.
    await run(ns, { name: 'slow', image: LOAD, sa: 'web', env: { TARGET: `http://${ip}/delay/500`, RPS: '2' } });
    const [slow] = await readyPods(ns, 'slow', 1);
    const timedOut = await eventually('the delayed requests answered', async () => {
      const r = await lastReport<LoadReport & { p50Ms: number | null }>(ns, name(slow));
      return r && r.sent >= 10 && r.ok + failedCount(r) >= 10 ? r : undefined;
    }, 60_000);
    t.diagnostic(`route timeout 200ms: /delay/500 answered ${JSON.stringify(timedOut.failed)}, p50 ${timedOut.p50Ms ?? '?'} ms (measured by the client app)`);
    assert.equal(timedOut.ok, 0, 'no delayed request got through');
    assert.equal(timedOut.failed.http_504, failedCount(timedOut), 'every one was answered 504');
    assert.ok(sum(await metrics(slow as V1Pod), 'response_total', { direction: 'outbound', route: 'GET /delay', status_code: '504', error: 'response_timeout' }) > 0, 'the client proxy counted them as response_timeout');
  });

  await t.test('circuit breaking: a pod answering only 500s is ejected, traffic shifts, and it comes back after it recovers', async (t) => {
    const ns = await meshedNamespace(t);
    await run(ns, { name: 'shelf', image: ECHO, sa: 'shelf', replicas: 3, port: 8080 });
    const shelf = await readyPods(ns, 'shelf', 3);
    await run(ns, { name: 'client', image: LOAD, sa: 'client', env: { TARGET: `http://${await clusterIP(ns, 'shelf')}/`, RPS: '30' } });
    const [client] = await readyPods(ns, 'client', 1);
    const c = name(client);
    await eventually('load spread over the three shelf pods', async () => {
      const r = await lastReport<LoadReport>(ns, c);
      return r && Object.keys(r.byPod).length === 3 ? r : undefined;
    }, 90_000);
    // P2C over peak EWMA sends in bursts (the endpoint with the highest estimate gets nothing until it decays): the pod taking traffic now fails, so it is tried at once.
    const base = await nextReport(ns, c, undefined);
    await sleep(3_000);
    const r0 = await nextReport(ns, c, base);
    const busiest = Object.entries(r0.byPod).map(([pod, count]) => [pod, count - (base.byPod[pod] ?? 0)] as const).sort((a, b) => b[1] - a[1])[0]?.[0];
    const bad = shelf.find((p) => name(p) === busiest);
    assert.ok(bad, `the busiest pod ${busiest ?? '?'} is one of the shelf pods`);
    const badAddr = `${bad.status?.podIP ?? ''}:8080`;
    const ejections = async () => {
      const text = await metrics(client as V1Pod);
      const ofBad = sum(text, 'endpoint_ejections_total', { target_addr: badAddr });
      return { ofBad, ofOthers: sum(text, 'endpoint_ejections_total', {}) - ofBad };
    };
    const before = await ejections();
    await setFailRate(bad, 1);
    t.after(() => setFailRate(bad, 0).catch(() => undefined));
    // 7 consecutive 500s eject it within a fraction of a second at 30 rps; then only one probe goes after each backoff (1 s, 2 s, 4 s, 8 s, jittered).
    await sleep(3_000);
    const r1 = await nextReport(ns, c, r0);
    await sleep(10_000);
    const r2 = await nextReport(ns, c, r1);
    const after = await ejections();
    const ejected = podShare(r1, r2, name(bad));
    const late = (failedCount(r2) - failedCount(r1)) / (r2.sent - r1.sent);
    t.diagnostic(`bad pod ${name(bad)}: ${after.ofBad - before.ofBad} ejections; share while ejected ${(ejected.share * 100).toFixed(1)} % of ${ejected.n} (a third or more without breaking); failures ${(late * 100).toFixed(1)} %; first 3 s ${JSON.stringify(r1.failed)} of ${r1.sent - r0.sent}`);
    assert.ok(failedCount(r1) > failedCount(r0), 'the failing pod did answer 500s before it was ejected');
    assert.ok(after.ofBad - before.ofBad >= 1, `the client proxy counted the ejection (endpoint_ejections_total{target_addr="${badAddr}"})`);
    assert.equal(after.ofOthers, before.ofOthers, 'no healthy pod was ejected');
    assert.ok(ejected.n >= 150 && ejected.share < 0.05, `the ejected pod got only its probes: ${ejected.share} of ${ejected.n}`);
    assert.ok(late < 0.05, `while it is ejected failures are rare (${late} of the requests; 0.33 without circuit breaking)`);

    await setFailRate(bad, 0);
    const recovered = Date.now();
    let prev = await nextReport(ns, c, r2);
    // The next probe comes after the current backoff (up to ~20 s here); its success closes the breaker.
    await eventually('the recovered pod takes traffic again', async () => {
      await sleep(2_000);
      const cur = await nextReport(ns, c, prev);
      const w = podShare(prev, cur, name(bad));
      prev = cur;
      return w.n > 0 && w.share > 0.2 ? cur : undefined;
    }, 90_000);
    t.diagnostic(`the recovered pod took a fair share again ${Date.now() - recovered} ms after it stopped failing`);
  });

  await t.test('authorization: an allowed ServiceAccount gets through, another gets 403, unmeshed and unauthenticated clients are refused, a pod in a deny namespace becomes Ready and its probes are never refused', async (t) => {
    const ns = await meshedNamespace(t);
    const plain = await testNamespace(t, 'plain');
    await run(ns, { name: 'api', image: ECHO, sa: 'api', replicas: 1, port: 8080 });
    await probedEcho(ns, 'locked', { 'config.skein.dev/default-inbound-policy': 'all-authenticated' });
    // `deny` from the namespace; the app starts beside the proxy (no await), so the kubelet may probe it before the proxy has its InboundUpdate.
    const denyNs = await meshedNamespace(t);
    await kubectl('annotate', '--overwrite', 'namespace', denyNs, 'config.skein.dev/default-inbound-policy=deny');
    await probedEcho(denyNs, 'sealed', { 'config.skein.dev/native-sidecar': 'disabled', 'config.skein.dev/proxy-await': 'disabled' });
    await apply(ns, {
      apiVersion: 'skein.dev/v1alpha1', kind: 'AuthorizationPolicy', metadata: { name: 'api-from-web' },
      spec: { target: { service: 'api', port: 80 }, allow: { serviceAccounts: [{ name: 'web' }] } },
    });
    const [api] = await readyPods(ns, 'api', 1);
    const ip = await clusterIP(ns, 'api');
    await run(ns, { name: 'web', image: LOAD, sa: 'web', env: { TARGET: `http://${ip}/`, RPS: '10' } });
    await run(ns, { name: 'other', image: LOAD, sa: 'other', env: { TARGET: `http://${ip}/`, RPS: '10' } });
    await run(plain, { name: 'outsider', image: LOAD, sa: 'outsider', env: { TARGET: `http://${ip}/`, RPS: '10' } });
    const [web] = await readyPods(ns, 'web', 1);
    const [other] = await readyPods(ns, 'other', 1);
    const [outsider] = await readyPods(plain, 'outsider', 1);
    // The policy reaches api's proxy within a second of being accepted; give it a few seconds before counting.
    await sleep(5_000);
    const start = await Promise.all([nextReport(ns, name(web), undefined), nextReport(ns, name(other), undefined), nextReport(plain, name(outsider), undefined)]);
    await sleep(5_000);
    const [w, o, x] = await Promise.all([nextReport(ns, name(web), start[0]), nextReport(ns, name(other), start[1]), nextReport(plain, name(outsider), start[2])]);
    const delta = (a: LoadReport, b: LoadReport) => {
      const failed: Record<string, number> = {};
      for (const [cause, count] of Object.entries(b.failed)) if (count > (a.failed[cause] ?? 0)) failed[cause] = count - (a.failed[cause] ?? 0);
      return { sent: b.sent - a.sent, ok: b.ok - a.ok, failed };
    };
    const [dw, dO, dx] = [delta(start[0], w), delta(start[1], o), delta(start[2], x)];
    t.diagnostic(`web ${JSON.stringify(dw)}, other ${JSON.stringify(dO)}, outsider ${JSON.stringify(dx)}`);
    assert.ok(dw.sent >= 30 && dw.ok >= 30 && Object.keys(dw.failed).length === 0, `ServiceAccount web gets 200s: ${JSON.stringify(dw)}`);
    assert.ok(dO.sent >= 30 && dO.ok === 0 && (dO.failed.http_403 ?? 0) > 0, `ServiceAccount other gets 403: ${JSON.stringify(dO)}`);
    assert.ok(dx.sent >= 30 && dx.ok === 0, `a client in an unmeshed namespace is refused: ${JSON.stringify(dx)}`);
    const apiText = await metrics(api as V1Pod);
    assert.ok(sum(apiText, 'inbound_refused_total', {}) >= (dO.failed.http_403 ?? 0), 'every 403 is counted on the server proxy (inbound_refused_total by reason)');

    const [locked] = await readyPods(ns, 'locked', 1);
    const [sealed] = await readyPods(denyNs, 'sealed', 1);
    const sealedProxy = [...(sealed?.spec?.initContainers ?? []), ...(sealed?.spec?.containers ?? [])].find((c) => c.name === 'skein-proxy');
    assert.deepEqual(JSON.parse(sealedProxy?.env?.find((e) => e.name === 'SKEIN_PROBES')?.value ?? 'null'), [{ port: 8080, path: '/ready' }], 'the injector told the proxy the app\'s probes');
    // No client has called it yet: any refusal under deny so far would have been a kubelet probe (before or after the InboundUpdate).
    assert.equal(sum(await metrics(sealed as V1Pod), 'inbound_refused_total', { reason: 'unauthorized_deny' }), 0, 'no probe of the pod under deny was ever refused');
    // Meshed clients (ServiceAccount web) of the two servers under a default policy.
    await run(ns, { name: 'to-locked', image: LOAD, sa: 'web', env: { TARGET: `http://${await clusterIP(ns, 'locked')}/`, RPS: '5' } });
    await run(ns, { name: 'to-sealed', image: LOAD, sa: 'web', env: { TARGET: `http://${await clusterIP(denyNs, 'sealed')}/`, RPS: '5' } });
    const answered = async (app: string) => {
      const [pod] = await readyPods(ns, app, 1);
      return eventually(`${app} has answers`, async () => {
        const r = await lastReport<LoadReport>(ns, name(pod));
        return r && r.ok + failedCount(r) >= 10 ? r : undefined;
      }, 60_000);
    };
    const toLocked = await answered('to-locked');
    assert.ok(toLocked.ok > 0 && failedCount(toLocked) === 0, `all-authenticated admits a meshed client: ${JSON.stringify(toLocked)}`);
    const unauthenticated = await fromHost(`http://${locked?.status?.podIP ?? ''}:8080/`);
    assert.notEqual(unauthenticated, 'http_200', 'all-authenticated refuses an unauthenticated client');
    t.diagnostic(`all-authenticated, unauthenticated client: ${unauthenticated}`);

    const sealedFromWeb = await answered('to-sealed');
    const sealedFromHost = await fromHost(`http://${sealed?.status?.podIP ?? ''}:8080/`);
    t.diagnostic(`deny: meshed client ${JSON.stringify(sealedFromWeb)}, unauthenticated ${sealedFromHost}`);
    assert.ok(sealedFromWeb.ok === 0 && (sealedFromWeb.failed.http_403 ?? 0) > 0, 'deny refuses a meshed client with 403');
    assert.notEqual(sealedFromHost, 'http_200', 'deny refuses an unauthenticated client');
    // Liveness and readiness probes every 2 s with failureThreshold 1: one refused probe would show.
    await sleep(6_000);
    const still = await core.readNamespacedPod({ namespace: denyNs, name: name(sealed) });
    assert.ok(isReady(still), 'the pod under deny stays Ready');
    assert.equal(still.status?.containerStatuses?.find((s) => s.name === 'app')?.restartCount, 0, 'its liveness probe never failed');
  });
});
