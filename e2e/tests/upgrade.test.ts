// An upgrade as a user runs it, under load, counting every request: Skein
// installed from an earlier commit's images and CLI (e2e/support/upgrade-base.ts,
// SKEIN_UPGRADE_FROM, default HEAD~1), a meshed client calling a meshed
// Service at a steady rate, then this commit's `kubectl skein install` applied
// over it (the control plane rolls), then the workloads restarted onto the
// new proxy. No request may fail, and every proxy must end on the new image.
// The old proxies talk to the new control plane in between: the skew window
// of api/discovery-version.ts, on a real cluster. Real nodes only (the
// imitation node runs this checkout's code whatever the image tag says).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { eventually, isReady, kubeConfig, kubectl } from '../support/kube.ts';
import { BASE, CLI, kubectlBin } from '../support/skein.ts';
import { clusterIP, meshedNamespace, readyPods, run, type LoadReport } from '../support/mesh.ts';
import { IMAGES } from '../support/images.ts';
import { upgradeBase, type UpgradeBase } from '../support/upgrade-base.ts';
import { clusterDir } from '../cluster/cluster.ts';
import { nodeDirs, REAL_NODES } from '../nodes/config.ts';
import { bootstrapIdentity } from '../../operator/identity/bootstrap.ts';
import { DEFAULT_SOURCE, imageRef } from '../../shared/images.ts';
import { PROTOCOL_VERSION } from '../../api/discovery-version.ts';

const exec = promisify(execFile);
const core = kubeConfig().makeApiClient(CoreV1Api);
const DEPLOYMENTS = ['skein-identity', 'skein-controller', 'skein-webhook'];
/** The load's bounds: requests per second, and a duration it stops at by itself should the test die. */
const RPS = 20;
const MAX_LOAD_S = 900;

/** `kubectl-skein install ... | kubectl apply --server-side`, with the CLI of the release being installed. */
async function install(cli: string, args: string[]): Promise<void> {
  const k = await kubectlBin();
  const env = { ...process.env, SKEIN_KUBECTL: k, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  const quoted = args.map((a) => `'${a}'`).join(' ');
  await exec('bash', ['-o', 'pipefail', '-c', `"${cli}" install ${quoted} | "${k}" --kubeconfig "${process.env.KUBECONFIG ?? ''}" apply --server-side --force-conflicts -f -`], { env, maxBuffer: 16 * 1024 * 1024 });
  for (const d of DEPLOYMENTS) await kubectl('-n', 'skein-system', 'rollout', 'status', `deployment/${d}`, '--timeout=240s');
}

/** The base release's images in every node's containerd, as a registry pull would leave them. */
async function loadImages(base: UpgradeBase): Promise<void> {
  for (const node of REAL_NODES) {
    for (const archive of base.archives) await exec('ctr', ['-a', nodeDirs(clusterDir(), node).socket, '-n', 'k8s.io', 'images', 'import', archive]);
  }
}

const proxyImage = (p: V1Pod) => [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].find((c) => c.name === 'skein-proxy')?.image;

/**
 * Every report of every pod of a Deployment, followed from its log as it is
 * written (`kubectl logs -f`): a pod the rollout deletes still gives its final
 * line, which reading the log afterwards could not.
 */
function followReports(t: TestContext, ns: string, app: string) {
  const finals = new Map<string, LoadReport & { final?: boolean }>();
  const last = new Map<string, LoadReport>();
  const following = new Set<string>();
  const ended = new Set<string>();
  let stopped = false;
  const poll = async () => {
    const k = await kubectlBin();
    while (!stopped) {
      const pods = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` }).catch(() => ({ items: [] as V1Pod[] }))).items;
      for (const p of pods) {
        const name = p.metadata?.name ?? '';
        const running = p.status?.containerStatuses?.some((c) => c.name === 'app' && c.state?.running);
        if (following.has(name) || !running) continue;
        following.add(name);
        const child = spawn(k, ['--kubeconfig', process.env.KUBECONFIG ?? '', '-n', ns, 'logs', '-f', name, '-c', 'app'], { stdio: ['ignore', 'pipe', 'ignore'] });
        let buf = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          buf += d;
          for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (!line.startsWith('{')) continue;
            const r = JSON.parse(line) as LoadReport & { final?: boolean };
            last.set(name, r);
            if (r.final) finals.set(name, r);
          }
        });
        child.on('exit', () => ended.add(name));
        t.after(() => { child.kill(); });
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  };
  const loop = poll();
  return {
    /** Requests answered so far, over every pod. */
    ok: () => [...last.values()].reduce((n, r) => n + r.ok, 0),
    last,
    finals,
    /** Stops watching for new pods and waits until every followed pod's log has ended. */
    async stop(): Promise<string[]> {
      stopped = true;
      await loop;
      await eventually('every followed log ended', () => Promise.resolve([...following].every((n) => ended.has(n)) ? true : undefined), 120_000);
      return [...following];
    },
  };
}

test('upgrade from the previous commit\'s release to this one under steady meshed load: no request fails, every proxy ends on the new version', { timeout: 1_800_000 }, async (t) => {
  const base = upgradeBase();
  t.diagnostic(`from ${base.ref} = ${base.commit.slice(0, 12)} (images tagged ${base.tag}) to this checkout (${DEFAULT_SOURCE.tag})`);
  await loadImages(base);

  const dir = mkdtempSync(join(tmpdir(), 'skein-upgrade-'));
  t.after(async () => {
    await kubectl('delete', '-k', BASE, '--wait=true', '--ignore-not-found');
    rmSync(dir, { recursive: true, force: true });
  });
  await kubectl('delete', '-k', BASE, '--wait=true', '--ignore-not-found');
  // One issuer for both installs, as an upgrade keeps the mesh's identity (docs/upgrades.md).
  const trust = await bootstrapIdentity('cluster.local');
  writeFileSync(join(dir, 'ca.crt'), trust.anchorPem);
  writeFileSync(join(dir, 'tls.crt'), trust.issuerCertPem);
  writeFileSync(join(dir, 'tls.key'), trust.issuerKeyPem);
  const common = ['--cluster-networks', '198.18.0.0/15', '--identity-issuer-dir', dir];

  await install(join(base.src, 'cli/bin/kubectl-skein'), ['--tag', base.tag, ...common]);
  const oldProxy = imageRef('proxy', { ...DEFAULT_SOURCE, tag: base.tag });
  const newProxy = imageRef('proxy');

  const ns = await meshedNamespace(t);
  await eventually('the trust roots in the new namespace', () => core.readNamespacedConfigMap({ namespace: ns, name: 'skein-trust-roots' }).catch(() => undefined));
  await run(ns, { name: 'b', image: IMAGES.echo, sa: 'b', replicas: 3, port: 8080 });
  const oldB = await readyPods(ns, 'b', 3);
  await run(ns, { name: 'a', image: IMAGES.load, sa: 'a', env: { TARGET: `http://${await clusterIP(ns, 'b')}/`, RPS: String(RPS), DURATION: String(MAX_LOAD_S) } });
  const [oldA] = await readyPods(ns, 'a', 1);
  assert.deepEqual([...oldB, oldA!].map(proxyImage), Array(4).fill(oldProxy), 'the base release injected its own proxy');

  const load = followReports(t, ns, 'a');
  const progress = async (what: string, more: number) => {
    const from = load.ok();
    await eventually(what, () => Promise.resolve(load.ok() >= from + more ? true : undefined), 120_000);
  };
  await progress('load through the old proxies', 2 * RPS);

  await t.test('the control plane is upgraded under load, the old proxies keep working against it', async () => {
    await install(CLI, common);
    const pods = (await core.listNamespacedPod({ namespace: 'skein-system' })).items.filter((p) => !p.metadata?.deletionTimestamp);
    assert.deepEqual([...new Set(pods.flatMap((p) => p.spec?.containers.map((c) => c.image) ?? []))], [imageRef('controller')], 'every control-plane pod runs the new image');
    await progress('load through the old proxies against the new control plane', 3 * RPS);
  });

  await t.test('the workloads roll onto the new proxy under load', async () => {
    for (const d of ['b', 'a']) {
      await kubectl('-n', ns, 'rollout', 'restart', `deployment/${d}`);
      await kubectl('-n', ns, 'rollout', 'status', `deployment/${d}`, '--timeout=240s');
    }
    const newB = await readyPods(ns, 'b', 3);
    const [newA] = await readyPods(ns, 'a', 1);
    await eventually('the new client\'s load reaches the new servers', () => {
      const r = load.last.get(newA?.metadata?.name ?? '');
      return Promise.resolve(r && r.ok >= 2 * RPS && newB.every((b) => (r.byPod[b.metadata?.name ?? ''] ?? 0) > 0) ? true : undefined);
    }, 120_000);
    const meshedPods = (await core.listNamespacedPod({ namespace: ns })).items.filter((p) => !p.metadata?.deletionTimestamp && proxyImage(p));
    assert.equal(meshedPods.length, 4);
    assert.deepEqual(meshedPods.map(proxyImage), Array(4).fill(newProxy), 'every proxy is on the new version');
    assert.ok(meshedPods.every(isReady));
    // The new proxies negotiated the new protocol version with the new controller.
    const controllers = (await core.listNamespacedPod({ namespace: 'skein-system', labelSelector: 'app.kubernetes.io/name=skein-controller' })).items;
    const text = (await Promise.all(controllers.map(async (p) => (await fetch(`http://${p.status?.podIP ?? ''}:9996/metrics`)).text()))).join('\n');
    assert.match(text, new RegExp(`skein_discovery_streams_total\\{[^}]*protocol_version="${PROTOCOL_VERSION}"[^}]*\\} [1-9]`));
  });

  // The last client stops; its proxy drains; every pod's final report is in.
  await kubectl('-n', ns, 'scale', 'deployment/a', '--replicas=0');
  const followed = await load.stop();
  assert.ok(followed.length >= 2, `the old and the new client were followed: ${followed.join(', ')}`);
  const reports = followed.map((name) => ({ name, report: load.finals.get(name) }));
  for (const { name, report } of reports) assert.ok(report, `${name} printed its final report`);
  const total = { sent: 0, ok: 0, failed: {} as Record<string, number> };
  for (const { name, report } of reports) {
    t.diagnostic(`${name}: sent ${report!.sent}, ok ${report!.ok}, failed ${JSON.stringify(report!.failed)}`);
    total.sent += report!.sent;
    total.ok += report!.ok;
    for (const [k, v] of Object.entries(report!.failed)) total.failed[k] = (total.failed[k] ?? 0) + v;
  }
  t.diagnostic(`total: ${total.sent} sent, ${total.ok} ok, failed ${JSON.stringify(total.failed)}`);
  assert.deepEqual(total.failed, {}, `no request failed during the upgrade; the last failures: ${JSON.stringify(reports.map((r) => r.report?.failures))}`);
  assert.equal(total.ok, total.sent, 'every request sent was answered');
});
