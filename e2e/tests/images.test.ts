// Skein's images on the real kubelet run exactly as the injector and the
// manifests configure them, enforced by containerd and runc: uid and gid,
// read-only root, no capabilities beyond what is added, seccomp.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { CoreV1Api, type V1Container, type V1Deployment, type V1Pod } from '@kubernetes/client-node';
import { eventually, isReady, kubeConfig, kubectl, testNamespace, waitForPod } from '../support/kube.ts';
import { DEFAULTS } from '../../webhook/inject/config.ts';
import { DEFAULT_MESH, initContainer, proxyContainer, volumes } from '../../webhook/inject/sidecar.ts';
import { INIT_RUN_VOLUME } from '../../api/mesh-names.ts';
import { imageRef } from '../../shared/images.ts';

const REPO = join(import.meta.dirname, '..', '..');

/** Printed by Node in the image: who it runs as and what the kernel allows it. */
const REPORT = `const s = require('fs').readFileSync('/proc/self/status', 'utf8');
const f = (k) => (new RegExp('^' + k + ':\\\\s*(.*)$', 'm').exec(s) || [])[1];
let rootWritable = true; try { require('fs').writeFileSync('/probe', 'x'); } catch (e) { rootWritable = e.code !== 'EROFS' && e.code !== 'EACCES'; }
console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(), capEff: f('CapEff'), seccomp: f('Seccomp'), noNewPrivs: f('NoNewPrivs'), rootWritable }));
setInterval(() => {}, 1000);`;

interface Report { uid: number; gid: number; groups: number[]; capEff: string; seccomp: string; noNewPrivs: string; rootWritable: boolean }

/** The container as configured, but running REPORT instead of its program. */
function reporting(c: V1Container): V1Container {
  return { name: c.name, image: c.image!, imagePullPolicy: 'IfNotPresent', command: ['/usr/bin/node', '-e', REPORT], securityContext: c.securityContext! };
}

async function report(t: TestContext, ns: string, name: string, spec: V1Pod['spec']): Promise<Report> {
  const core = kubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespacedPod({ namespace: ns, body: { metadata: { name }, spec: spec! } });
  await waitForPod(ns, name, isReady, 'Ready', 90_000);
  const line = await eventually(`${name}'s report`, async () => (await kubectl('-n', ns, 'logs', name)).split('\n').find((l) => l.startsWith('{')));
  t.diagnostic(`${name}: ${line}`);
  return JSON.parse(line) as Report;
}

test('the proxy image runs as the injector configures the sidecar: uid and gid 2102, read-only root, no capability, seccomp', async (t) => {
  const ns = await testNamespace(t, 'images');
  const sidecar = proxyContainer({ spec: { containers: [] } }, DEFAULTS, DEFAULT_MESH);
  assert.equal(sidecar.image, imageRef('proxy'));
  const r = await report(t, ns, 'proxy', { containers: [reporting(sidecar)] });
  assert.deepEqual([r.uid, r.gid], [2102, 2102]);
  assert.ok(!r.groups.includes(0), `no root group: ${r.groups.join(',')}`);
  assert.equal(r.rootWritable, false);
  assert.equal(BigInt(`0x${r.capEff}`), 0n);
  assert.equal(r.seccomp, '2', 'seccomp filter mode (RuntimeDefault)');
  assert.equal(r.noNewPrivs, '1');
});

test('the controller image runs as the manifests configure it: non-root 65532, read-only root, no capability, seccomp', async (t) => {
  const ns = await testNamespace(t, 'images');
  const webhook = parseAllDocuments(readFileSync(join(REPO, 'manifests/base/webhook.yaml'), 'utf8')).map((d) => d.toJS() as V1Deployment).find((o) => o.kind === 'Deployment')!;
  const pod = webhook.spec!.template.spec!;
  const r = await report(t, ns, 'controller', { securityContext: pod.securityContext!, containers: [reporting(pod.containers[0]!)] });
  assert.deepEqual([r.uid, r.gid], [65532, 65532]);
  assert.equal(r.rootWritable, false);
  assert.equal(BigInt(`0x${r.capEff}`), 0n);
  assert.equal(r.seccomp, '2');
});

/** The volume the injector gives skein-init (its writable /run); the others (token, trust roots) it does not read. */
const initVolumes = volumes(DEFAULT_MESH).filter((v) => v.name === INIT_RUN_VOLUME);

test('skein-init writes its rules under the injector\'s exact securityContext, and fails saying so without NET_ADMIN', async (t) => {
  const ns = await testNamespace(t, 'images');
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const app: V1Container = { name: 'app', image: imageRef('e2e/echo'), imagePullPolicy: 'IfNotPresent' };
  const init = initContainer(DEFAULTS);
  await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'meshed' }, spec: { initContainers: [init], containers: [app], volumes: initVolumes } } });
  await waitForPod(ns, 'meshed', isReady, 'Ready (skein-init exited 0)', 90_000);
  const initLog = await kubectl('-n', ns, 'logs', 'meshed', '-c', 'skein-init');
  assert.match(initLog, /^skein-init: applied with iptables/m);
  assert.match(initLog, /^-A SKEIN_OUTPUT .*--uid-owner 2102/m, `the proxy's own traffic is exempt:\n${initLog}`);

  const crippled: V1Container = { ...init, securityContext: { ...init.securityContext, capabilities: { drop: ['ALL'], add: ['NET_RAW'] } } };
  await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'no-net-admin' }, spec: { initContainers: [crippled], containers: [app], restartPolicy: 'Never', volumes: initVolumes } } });
  const failed = await waitForPod(ns, 'no-net-admin', (p) => p.status?.phase === 'Failed', 'Failed', 90_000);
  const message = failed.status?.initContainerStatuses?.[0]?.state?.terminated?.message ?? '';
  assert.match(message, /NET_ADMIN/, `termination message: ${message}`);
});

test('skein-init with the legacy backend takes iptables\' lock in the writable /run the injector gives it; without it the read-only root refuses the lock', async (t) => {
  const ns = await testNamespace(t, 'images');
  const core = kubeConfig().makeApiClient(CoreV1Api);
  const app: V1Container = { name: 'app', image: imageRef('e2e/echo'), imagePullPolicy: 'IfNotPresent' };
  const injected = initContainer(DEFAULTS);
  const legacy: V1Container = { ...injected, args: [...(injected.args ?? []), '--iptables-mode', 'legacy'] };
  await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'legacy' }, spec: { initContainers: [legacy], containers: [app], volumes: initVolumes } } });
  await waitForPod(ns, 'legacy', isReady, 'Ready (skein-init exited 0)', 90_000);
  assert.match(await kubectl('-n', ns, 'logs', 'legacy', '-c', 'skein-init'), /^skein-init: applied with iptables-legacy-restore/m);

  // The same container without the mount: what every init container with a read-only root met before.
  const unmounted: V1Container = { ...legacy, volumeMounts: [] };
  await core.createNamespacedPod({ namespace: ns, body: { metadata: { name: 'no-run' }, spec: { initContainers: [unmounted], containers: [app], restartPolicy: 'Never' } } });
  const failed = await waitForPod(ns, 'no-run', (p) => p.status?.phase === 'Failed', 'Failed', 90_000);
  const message = failed.status?.initContainerStatuses?.[0]?.state?.terminated?.message ?? '';
  assert.match(message, /xtables\.lock|Read-only file system/, `termination message: ${message}`);
});
