// Stopping the nodes leaves nothing on the host; a killed node program is
// cleaned up by the next start, and the pods come back. One test for each
// node implementation; the other is skipped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { dirname, resolve } from 'node:path';
import { readFileSync } from 'node:fs';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeConfig, eventually, testNamespace, waitForPod, isReady, realNodes } from '../support/kube.ts';
import { leftovers } from '../nodes/host.ts';
import { leftoverNetns, leftoverVeths, hostRoutesToPods, pidsInNetns, sandboxNames } from '../node/network.ts';
import { isAlive, processesMentioning } from '../cluster/procs.ts';
import { NETWORK, paths } from '../cluster/components.ts';
import { IMAGES } from '../support/images.ts';

const run = promisify(execFile);
const CLUSTER = resolve(import.meta.dirname, '../cluster/cluster.ts');
const clusterDir = dirname(process.env.KUBECONFIG ?? '');
const cluster = (...args: string[]) => run(process.execPath, [CLUSTER, ...args], { env: { ...process.env, SKEIN_CLUSTER_DIR: clusterDir }, timeout: 330_000 });

async function hostIsClean(): Promise<void> {
  assert.deepEqual(leftoverNetns(), [], 'no pod network namespace is left');
  assert.deepEqual(leftoverVeths(), [], 'no veth is left');
  assert.deepEqual(hostRoutesToPods(), [], 'no route to a pod is left');
  const rules = (await run('iptables-save')).stdout.split('\n').filter((l) => /KUBE-/.test(l));
  assert.deepEqual(rules, [], 'kube-proxy\'s iptables rules are gone');
  const lo = (await run('ip', ['-4', '-o', 'addr', 'show', 'dev', 'lo'])).stdout;
  assert.equal(lo.includes(NETWORK.hostIp), false, 'the host address of the pod network is removed');
}

test('stop and start the local node: nothing leaks, and a killed node is cleaned up by the next start', async (t) => {
  if (await realNodes()) { t.skip('the cluster runs real nodes; the next test covers them'); return; }
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const ns = await testNamespace(t);
  await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'survivor' }, spec: { containers: [{ name: 'echo', image: IMAGES.echo }] } } });
  const before = await waitForPod(ns, 'survivor', isReady, 'Ready');
  t.after(async () => { await cluster('up'); });

  await cluster('stop', 'local-node');
  await hostIsClean();

  await cluster('up');
  await waitForPod(ns, 'survivor', (p) => isReady(p) && p.status?.startTime?.getTime() !== before.status?.startTime?.getTime(), 'Ready again after the restart');

  // A crash: SIGKILL leaves namespaces, veths and processes behind...
  const { netns } = sandboxNames(before.metadata?.uid ?? '');
  const orphans = await pidsInNetns(netns);
  assert.ok(orphans.length > 0, 'the pod runs in its namespace');
  const nodePid = Number(readFileSync(`${clusterDir}/run/local-node.pid`, 'utf8'));
  process.kill(nodePid, 'SIGKILL');
  await eventually('local node dead', () => Promise.resolve(isAlive(nodePid) ? undefined : true));
  assert.ok(leftoverNetns().includes(netns), 'a killed node leaves its pods behind');

  // ...which the next start removes before it runs the pods again.
  await cluster('up');
  for (const pid of orphans) assert.equal(isAlive(pid), false, `orphaned container process ${pid} was killed`);
  await waitForPod(ns, 'survivor', isReady, 'Ready after the crash');

  await cluster('stop', 'local-node');
  await hostIsClean();
});

test('stop and start the real nodes: nothing is left on the host, and what a killed run left is removed by the next start', async (t) => {
  if (!(await realNodes())) { t.skip('the cluster runs the imitation node; the test above covers it'); return; }
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
