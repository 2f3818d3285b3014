// Stopping the nodes leaves nothing on the host; a killed node program is
// cleaned up by the next start, and the pods come back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { dirname, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeConfig, eventually, testNamespace, waitForPod, isReady } from '../support/kube.ts';
import { leftovers } from '../nodes/host.ts';
import { isAlive, processesMentioning } from '../cluster/procs.ts';
import { paths } from '../cluster/components.ts';
import { IMAGES } from '../support/images.ts';

const run = promisify(execFile);
const CLUSTER = resolve(import.meta.dirname, '../cluster/cluster.ts');
const clusterDir = dirname(process.env.KUBECONFIG ?? '');
const cluster = (...args: string[]) => run(process.execPath, [CLUSTER, ...args], { env: { ...process.env, SKEIN_CLUSTER_DIR: clusterDir }, timeout: 330_000 });

test('stop and start the nodes: nothing is left on the host, and what a killed run left is removed by the next start', async (t) => {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const ns = await testNamespace(t);
  await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'survivor' }, spec: { containers: [{ name: 'echo', image: IMAGES.echo }] } } });
  const before = await waitForPod(ns, 'survivor', isReady, 'Ready');
  const containerOf = (p: typeof before) => p.status?.containerStatuses?.[0]?.containerID;
  t.after(async () => { await cluster('up'); });

  // stop runs main.ts check too, and fails naming whatever is left.
  await cluster('stop', 'real-nodes');
  assert.deepEqual(leftovers(clusterDir), [], 'no process, mount, cgroup, interface, chain or runtime file is left');

  await cluster('up');
  const again = await waitForPod(ns, 'survivor', (p) => isReady(p) && containerOf(p) !== containerOf(before), 'Ready again, in a new container, after the restart', 120_000);

  // A crash: SIGKILL of the node program leaves its kubelets, containerds, kube-proxy and containers behind...
  const nodePid = Number(readFileSync(`${clusterDir}/run/real-nodes.pid`, 'utf8'));
  process.kill(nodePid, 'SIGKILL');
  await eventually('the node program dead', () => Promise.resolve(isAlive(nodePid) ? undefined : true));
  const orphans = [...processesMentioning(`${clusterDir}/nodes/`), ...processesMentioning(paths(clusterDir).kubeProxyKubeconfig)];
  assert.ok(orphans.length >= 7, `three kubelets, three containerds and kube-proxy outlive it (found ${orphans.length})`);

  // ...which the next start removes before it starts the nodes again.
  await cluster('up');
  for (const pid of orphans) assert.equal(isAlive(pid), false, `orphaned process ${pid} was stopped`);
  await waitForPod(ns, 'survivor', (p) => isReady(p) && containerOf(p) !== containerOf(again), 'Ready after the crash', 120_000);

  await cluster('stop', 'real-nodes');
  assert.deepEqual(leftovers(clusterDir), []);
});
