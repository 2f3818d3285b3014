// The control plane goes away under steady load through the mesh, and the
// data plane does not notice: proxies keep their certificates and their
// last good discovery state, and pick up changes again when it returns.
// Every request is counted by the load app; none may fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { eventually, kubectl } from '../support/kube.ts';
import { installSkein } from '../support/skein.ts';
import { run, readyPods, clusterIP, lastReport, meshedNamespace, type LoadReport } from '../support/mesh.ts';

const CLUSTER = resolve(import.meta.dirname, '../cluster/cluster.ts');
const cluster = (...args: string[]) => promisify(execFile)(process.execPath, [CLUSTER, ...args]);

/** Waits until the load app has sent `more` requests beyond what it had sent when called. */
async function progress(ns: string, pod: string, more: number): Promise<LoadReport> {
  const start = (await lastReport<LoadReport>(ns, pod))?.sent ?? 0;
  return eventually(`${more} more requests from ${pod}`, async () => {
    const r = await lastReport<LoadReport>(ns, pod);
    return r && r.sent >= start + more ? r : undefined;
  }, 120_000);
}

test('the control plane goes away under load: zero failed requests', { timeout: 600_000 }, async (t) => {
  await installSkein(t);
  const ns = await meshedNamespace(t);
  await run(ns, { name: 'b', image: 'skein.dev/e2e/echo:dev', sa: 'b', replicas: 2, port: 8080 });
  await readyPods(ns, 'b', 2);
  await run(ns, { name: 'a', image: 'skein.dev/e2e/load:dev', sa: 'a', env: { TARGET: `http://${await clusterIP(ns, 'b')}/`, RPS: '25' } });
  const [a] = await readyPods(ns, 'a', 1);
  const load = a?.metadata?.name ?? '';
  await progress(ns, load, 50);

  await t.test('the discovery controller is killed: proxies keep routing on their last state', async () => {
    await kubectl('-n', 'skein-system', 'delete', 'pod', '-l', 'app.kubernetes.io/name=skein-controller', '--wait=false');
    await progress(ns, load, 100);
    await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-controller', '--timeout=120s');
    assert.deepEqual((await progress(ns, load, 50)).failed, {}, 'no request failed while discovery was away');
  });

  await t.test('the identity CA is scaled to zero: proxies keep serving with their current certificates', async () => {
    await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-identity', '--replicas=0');
    await kubectl('-n', 'skein-system', 'wait', '--for=delete', 'pod', '-l', 'app.kubernetes.io/name=skein-identity', '--timeout=60s');
    await progress(ns, load, 100);
    await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-identity', '--replicas=1');
    await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-identity', '--timeout=120s');
    assert.deepEqual((await progress(ns, load, 50)).failed, {}, 'no request failed while the CA was away');
  });

  await t.test('the API server stops and returns: traffic flows meanwhile, and a change made after it is back reaches the proxies', async () => {
    await cluster('stop', 'kube-apiserver');
    try {
      await sleep(5_000);
    } finally {
      await cluster('up');
    }
    await progress(ns, load, 50);
    // A new endpoint after the restart: the controller's informers relisted and discovery pushes it.
    await kubectl('-n', ns, 'scale', 'deployment/b', '--replicas=3');
    await readyPods(ns, 'b', 3);
    const after = await eventually('the new pod takes traffic', async () => {
      const r = await lastReport<LoadReport>(ns, load);
      return r && Object.keys(r.byPod).length === 3 ? r : undefined;
    }, 90_000);
    assert.deepEqual(after.failed, {}, 'no request failed across the API server restart');
  });
});
