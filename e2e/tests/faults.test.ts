// The control plane goes away under steady load through the mesh, and the
// data plane does not notice: proxies keep their certificates and their
// last good discovery state, and pick up changes again when it returns.
// One load run serves every phase: the discovery controller killed, the CA
// scaled to zero, the API server and etcd restarted, the leader of two
// controller replicas crashed, the webhook down. Every request is counted
// by the load app; none may fail in any phase.
// The CA away past a renewal is a unit test (shared/identity-client.test.ts):
// the shortest leaf lifetime a MeshIdentity allows (10 min) renews at 7 min.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { eventually, kubeConfig, kubectl } from '../support/kube.ts';
import { installSkein, REPO } from '../support/skein.ts';
import { crashPod } from '../support/crash.ts';
import { run, readyPods, clusterIP, lastReport, meshed, meshedNamespace, metrics, sum, type LoadReport } from '../support/mesh.ts';
import { ELECTION_DEFAULTS } from '../../shared/control-plane/leader.ts';
import { SERVICE_PROFILE } from '../../operator/policy/objects.ts';
import { IMAGES } from '../support/images.ts';

const CLUSTER = resolve(import.meta.dirname, '../cluster/cluster.ts');
const cluster = (...args: string[]) => promisify(execFile)(process.execPath, [CLUSTER, ...args]);
const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);

/** Waits until the load app has sent `more` requests beyond what it had sent when called. */
async function progress(ns: string, pod: string, more: number): Promise<LoadReport> {
  const start = (await lastReport<LoadReport>(ns, pod))?.sent ?? 0;
  return eventually(`${more} more requests from ${pod}`, async () => {
    const r = await lastReport<LoadReport>(ns, pod);
    return r && r.sent >= start + more ? r : undefined;
  }, 120_000);
}

/** The load's report now: each subtest counts failures from here, so one bad phase does not fail the next. */
const snapshot = (ns: string, pod: string) => progress(ns, pod, 1);

/** No request failed between two reports of the same load run; on failure, the load's last failures in detail. */
function assertNoFailures(before: LoadReport, after: LoadReport, what: string): void {
  const failed: Record<string, number> = {};
  for (const [cause, n] of Object.entries(after.failed)) if (n > (before.failed[cause] ?? 0)) failed[cause] = n - (before.failed[cause] ?? 0);
  assert.deepEqual(failed, {}, `${what}; the load's last failures: ${JSON.stringify(after.failures ?? [])}`);
}

/** Waits until `count` distinct pods of the target have answered the load. */
const servedBy = (ns: string, pod: string, count: number) => eventually(`${count} pods answer the load`, async () => {
  const r = await lastReport<LoadReport>(ns, pod);
  return r && Object.keys(r.byPod).length === count ? r : undefined;
}, 90_000);

/** A control-plane process of the local cluster stops for a few seconds; `cluster.ts up` brings back whatever is down. */
async function outage(component: 'etcd' | 'kube-apiserver'): Promise<void> {
  const { stderr } = await cluster('stop', component);
  try {
    assert.match(stderr, new RegExp(`stopped ${component}`), `${component} was running and is stopped`);
    await sleep(5_000);
  } finally {
    await cluster('up');
  }
}

/** The holder of a Lease in skein-system, or undefined while nobody holds it. */
async function leaseHolder(name: string): Promise<string | undefined> {
  const lease = await kc.makeApiClient(CoordinationV1Api).readNamespacedLease({ name, namespace: 'skein-system' });
  return lease.spec?.holderIdentity || undefined;
}

const hasContainer = (pod: V1Pod, name: string) => [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some((c) => c.name === name);

/** `kubectl skein check` as a user runs it: exit code and output, without throwing on ×. */
async function skeinCheck(): Promise<{ code: number; stdout: string }> {
  const env = { ...process.env, PATH: `${resolve(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  try {
    return { code: 0, stdout: (await promisify(execFile)(resolve(REPO, 'cli/bin/kubectl-skein'), ['check'], { env })).stdout };
  } catch (err) {
    const e = err as { code?: number; stdout?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '' };
  }
}

test('the control plane goes away under load: zero failed requests', { timeout: 600_000 }, async (t) => {
  await installSkein(t);
  const ns = await meshedNamespace(t);
  await run(ns, { name: 'b', image: IMAGES.echo, sa: 'b', replicas: 2, port: 8080 });
  await readyPods(ns, 'b', 2);
  await run(ns, { name: 'a', image: IMAGES.load, sa: 'a', env: { TARGET: `http://${await clusterIP(ns, 'b')}/`, RPS: '25' } });
  const [a] = await readyPods(ns, 'a', 1);
  const load = a?.metadata?.name ?? '';
  await progress(ns, load, 50);

  await t.test('the discovery controller is killed: proxies keep routing on their last state', async () => {
    const before = await snapshot(ns, load);
    await kubectl('-n', 'skein-system', 'delete', 'pod', '-l', 'app.kubernetes.io/name=skein-controller', '--wait=false');
    await progress(ns, load, 100);
    await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-controller', '--timeout=120s');
    assertNoFailures(before, await progress(ns, load, 50), 'no request failed while discovery was away');
  });

  // Longer than the proxies' readiness probe takes to fail (3 × 2 s): a proxy that went NotReady
  // without discovery took every meshed pod out of its Services at once, and the controller's
  // first push on return said "no ready endpoint" to every client (the soak's 104 × 503).
  await t.test('discovery away for 15 s: meshed pods stay Ready and in their Services, nothing fails after it returns', async () => {
    const before = await snapshot(ns, load);
    let notReady: (string | undefined)[];
    try {
      await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-controller', '--replicas=0');
      await kubectl('-n', 'skein-system', 'wait', '--for=delete', 'pod', '-l', 'app.kubernetes.io/name=skein-controller', '--timeout=60s');
      await progress(ns, load, 15 * 25);
      notReady = (await core.listNamespacedPod({ namespace: ns, labelSelector: 'app=b' })).items
        .filter((p) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True').map((p) => p.metadata?.name);
    } finally {
      // Back whatever happened: the later scenarios need a controller.
      await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-controller', '--replicas=1');
      await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-controller', '--timeout=120s');
    }
    assert.deepEqual(notReady, [], 'backend pods stay Ready while discovery is away');
    assertNoFailures(before, await progress(ns, load, 100), 'no request failed during the outage or after discovery returned');
  });

  await t.test('the identity CA is scaled to zero: proxies keep serving with their current certificates', async () => {
    const before = await snapshot(ns, load);
    await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-identity', '--replicas=0');
    await kubectl('-n', 'skein-system', 'wait', '--for=delete', 'pod', '-l', 'app.kubernetes.io/name=skein-identity', '--timeout=60s');
    await progress(ns, load, 100);
    await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-identity', '--replicas=1');
    await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-identity', '--timeout=120s');
    assertNoFailures(before, await progress(ns, load, 50), 'no request failed while the CA was away');
  });

  await t.test('the API server stops and returns: traffic flows meanwhile, and a change made after it is back reaches the proxies', async () => {
    const before = await snapshot(ns, load);
    await outage('kube-apiserver');
    await progress(ns, load, 50);
    // A new endpoint after the restart: the controller's informers relisted and discovery pushes it.
    await kubectl('-n', ns, 'scale', 'deployment/b', '--replicas=3');
    await readyPods(ns, 'b', 3);
    assertNoFailures(before, await servedBy(ns, load, 3), 'no request failed across the API server restart');
  });

  await t.test('etcd stops and returns: a scale-up written just before the outage is not lost, and the proxies route to the new pod', async () => {
    const before = await snapshot(ns, load);
    // Written, then etcd goes: the Deployment, ReplicaSet, scheduler, node and EndpointSlice
    // steps that turn it into a routed endpoint happen across the outage and after it.
    await kubectl('-n', ns, 'scale', 'deployment/b', '--replicas=4');
    await outage('etcd');
    await readyPods(ns, 'b', 4);
    assertNoFailures(before, await servedBy(ns, load, 4), 'no request failed across the etcd restart');
  });

  await t.test('two controller replicas, the leader crashes: the other leads within the Lease time, traffic flows, and it reconciles a new policy', async () => {
    await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-controller', '--replicas=2');
    await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-controller', '--timeout=120s');
    const replicas = (await core.listNamespacedPod({ namespace: 'skein-system', labelSelector: 'app.kubernetes.io/name=skein-controller' })).items
      .filter((p) => !p.metadata?.deletionTimestamp).map((p) => p.metadata?.name ?? '');
    const leader = await eventually('a controller replica holds Lease skein-controller', async () => {
      const holder = await leaseHolder('skein-controller');
      return holder && replicas.includes(holder) ? holder : undefined;
    }, 60_000);
    const before = await snapshot(ns, load);

    // A crash, not a shutdown: no release of the Lease. The pod is then removed so its
    // restarted container cannot win the Lease back under the same name.
    await crashPod('skein-system', leader);
    const killedAt = Date.now();
    await kubectl('-n', 'skein-system', 'delete', 'pod', leader, '--grace-period=0', '--force', '--wait=false');
    const next = await eventually('another replica holds Lease skein-controller', async () => {
      const holder = await leaseHolder('skein-controller');
      return holder && holder !== leader ? holder : undefined;
    }, 60_000);
    const takeoverMs = Date.now() - killedAt;
    // The other replica may have seen the last renewal up to one retry late, and tries once per retry period.
    const boundMs = ELECTION_DEFAULTS.leaseDurationMs + 2 * ELECTION_DEFAULTS.retryPeriodMs;
    t.diagnostic(`${next} took over ${takeoverMs} ms after ${leader} was killed (bound ${boundMs} ms: lease duration and two retry periods)`);
    assert.ok(takeoverMs <= boundMs, `takeover took ${takeoverMs} ms, beyond the lease duration and two retry periods (${boundMs} ms)`);

    // The new leader reconciles: status for a new ServiceProfile, and its route in the client proxy's metrics.
    const name = `b.${ns}.svc.cluster.local`;
    await kc.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
      group: SERVICE_PROFILE.group, version: SERVICE_PROFILE.version, plural: SERVICE_PROFILE.plural, namespace: ns,
      body: { apiVersion: `${SERVICE_PROFILE.group}/${SERVICE_PROFILE.version}`, kind: SERVICE_PROFILE.kind, metadata: { name }, spec: { routes: [{ name: 'GET /', condition: { method: 'GET', pathRegex: '/.*' } }] } },
    });
    await eventually('the ServiceProfile is Accepted by the new leader', async () => {
      const sp = await kc.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({ group: SERVICE_PROFILE.group, version: SERVICE_PROFILE.version, plural: SERVICE_PROFILE.plural, namespace: ns, name }) as
        { metadata: { generation: number }; status?: { conditions?: { type: string; status: string; observedGeneration?: number }[] } };
      return sp.status?.conditions?.some((c) => c.type === 'Accepted' && c.status === 'True' && c.observedGeneration === sp.metadata.generation) || undefined;
    }, 60_000);
    // Ready again: the load's proxy moved its discovery session from the crashed replica to a live one.
    const [client] = await readyPods(ns, 'a', 1);
    await eventually('the client proxy counts requests on route GET /', async () =>
      sum(await metrics(client as V1Pod), 'request_total', { direction: 'outbound', route: 'GET /' }) > 0 || undefined, 60_000);
    assertNoFailures(before, await progress(ns, load, 25), 'no request failed while the leader changed');
  });

  await t.test('the webhook is down: a new pod starts un-meshed, check and an Event say so; once it is back a restart meshes it, nothing half-injected', async () => {
    const before = await snapshot(ns, load);
    await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-webhook', '--replicas=0');
    await kubectl('-n', 'skein-system', 'wait', '--for=delete', 'pod', '-l', 'skein.dev/control-plane-component=webhook', '--timeout=60s');
    // failurePolicy Ignore: the pod is admitted without the webhook.
    await run(ns, { name: 'c', image: IMAGES.echo, sa: 'c' });
    const [plain] = await readyPods(ns, 'c', 1);
    const plainName = plain?.metadata?.name ?? '';
    assert.equal(meshed(plain as V1Pod), false, 'created while the webhook was down: no proxy');

    const checked = await skeinCheck();
    assert.equal(checked.code, 1, 'check fails');
    assert.match(checked.stdout, new RegExp(`× pods in meshed namespaces run with the proxy \\(running un-meshed: [^)]*${ns}/${plainName}`), checked.stdout);

    await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-webhook', '--replicas=1');
    await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-webhook', '--timeout=120s');
    // On the pod's owner, as kubectl describe deployment shows it, naming the pod.
    const event = await eventually(`a NotMeshed Event naming ${plainName}`, async () => {
      const events = await core.listNamespacedEvent({ namespace: ns, fieldSelector: 'reason=NotMeshed' });
      return events.items.find((e) => e.message?.includes(plainName));
    }, 60_000);
    assert.deepEqual([event.type, event.involvedObject.kind, event.involvedObject.name], ['Warning', 'Deployment', 'c']);

    await kubectl('-n', ns, 'rollout', 'restart', 'deployment/c');
    await kubectl('-n', ns, 'rollout', 'status', 'deployment/c', '--timeout=120s');
    const [restarted] = await readyPods(ns, 'c', 1);
    assert.equal(meshed(restarted as V1Pod), true, `the restarted pod ${restarted?.metadata?.name ?? ''} has the proxy`);
    const pods = (await core.listNamespacedPod({ namespace: ns })).items.filter((p) => !p.metadata?.deletionTimestamp);
    const half = pods.filter((p) => hasContainer(p, 'skein-init') !== hasContainer(p, 'skein-proxy')).map((p) => p.metadata?.name);
    assert.deepEqual(half, [], 'no pod carries the init container without the proxy, or the proxy without the init container');
    assertNoFailures(before, await snapshot(ns, load), 'no request failed: the webhook is not in the request path');
  });
});
