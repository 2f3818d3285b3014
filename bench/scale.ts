// Scale: Skein's control plane (installed from manifests/, as the cluster
// tests install it) against many pods, Services and proxy subscriptions, as
// the counts grow tenfold. The pods have no process behind them: kwok
// (sigs.k8s.io/kwok, built from its Go module by scripts/kwok.sh) plays the
// kubelet of fifty fake Nodes, so pods bound to them are Running, Ready, get an
// IP, and kube-controller-manager builds their EndpointSlices as for any pod.
// kwok runs beside whatever nodes the cluster has and manages only its own.
// The subscriptions are DiscoveryClients (the proxy's own client code) with a
// workload certificate from the installed skein-identity, 100 watches per
// HTTP/2 session, as many sessions as a step needs.
// Measured per step: the pod list synced by shared/informer.ts (the
// controller's informer code, in this process), skein-controller restarted
// until Ready (its informers synced and a certificate), every subscription's
// first snapshot, an EndpointSlice change to every subscribed client (p50,
// p99 over clients × repeats), and the resident memory of skein-controller
// and skein-webhook (whose watch caches every un-meshed pod).
// Numbers, not a test: nothing is asserted. Runs on the cluster KUBECONFIG
// names (`cluster.ts run -- node bench/scale.ts`: three real kubelets on
// containerd); the control plane's processes are read in the host's /proc.
//   node bench/scale.ts [--pods 100,1000,10000] [--repeats 5]
import { execFileSync, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AppsV1Api, CoreV1Api, DiscoveryV1Api, type V1Pod } from '@kubernetes/client-node';
import { Informer } from '../shared/informer.ts';
import type { DiscoveryClient } from '../shared/discovery-client.ts';
import { kubeConfig, kubectl } from '../e2e/support/kube.ts';
import { discoveryClient, installSkein, workloadIdentity, type Cleanup } from '../e2e/support/skein.ts';
import { IMAGES } from '../e2e/support/images.ts';
import { componentOf } from './lib/soak-parts.ts';
import { rssParts } from './lib/proc.ts';
import { percentile } from './stats.ts';

const REPO = resolve(import.meta.dirname, '..');
/** kwok takes a pod's address from its Node's podCIDR (a /24 kube-controller-manager allocates): 200 pods a Node at 10,000. */
const NODES = 50;
const PODS_PER_SERVICE = 10;
const WATCHES_PER_SESSION = 100;
const NS = 'bench-scale';
/** kwok's pod addresses where a Node has no podCIDR: inside the test range, clear of the nodes' /24s, never routed. */
const KWOK_CIDR = '198.18.192.0/18';

const { values } = parseArgs({ options: { pods: { type: 'string', default: '100,1000,10000' }, repeats: { type: 'string', default: '5' } } });
const steps = (values.pods ?? '').split(',').map(Number);
if (steps.some((n) => !Number.isInteger(n) || n < PODS_PER_SERVICE)) throw new Error(`--pods wants counts of at least ${PODS_PER_SERVICE}, comma-separated, got "${values.pods ?? ''}"`);
const repeats = Number(values.repeats);

const kc = kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const discovery = kc.makeApiClient(DiscoveryV1Api);
const log = (msg: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} scale: ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(500);
  }
}

/** Runs `job` over `items`, `width` at a time. */
async function pool<T>(items: readonly T[], width: number, job: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => { while (next < items.length) await job(items[next++]!); }));
}

const KWOK_STAGES = ['node/fast/node-initialize.yaml', 'pod/fast/pod-ready.yaml', 'pod/fast/pod-complete.yaml', 'pod/fast/pod-delete.yaml'];

/** Where Go's module cache holds the kwok module scripts/kwok.sh built (its version is the script's). */
function kwokModuleDir(): string {
  const version = /^version=(\S+)$/m.exec(readFileSync(join(REPO, 'scripts/kwok.sh'), 'utf8'))?.[1] ?? '';
  return join(execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim(), `sigs.k8s.io/kwok@${version}`);
}

function startKwok(cleanup: Cleanup): void {
  const bin = execFileSync(join(REPO, 'scripts/kwok.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop() ?? '';
  const child = spawn(bin, [
    `--kubeconfig=${process.env.KUBECONFIG ?? ''}`, '--manage-all-nodes=false', '--manage-nodes-with-label-selector=type=kwok',
    '--manage-nodes-with-annotation-selector=', '--manage-single-node=', `--cidr=${KWOK_CIDR}`, '--node-ip=198.18.191.1', '--node-lease-duration-seconds=40',
    // kwok 0.8 does nothing without stages ("no stages found"): its own "fast" ones, from the module the binary was built from.
    ...KWOK_STAGES.map((stage) => `--config=${join(kwokModuleDir(), 'kustomize/stage', stage)}`),
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { errors = (errors + d).slice(-2000); });
  child.on('exit', (code) => { if (code !== null && code !== 0) log(`kwok exited ${code}: ${errors}`); });
  cleanup.after(() => { child.kill('SIGTERM'); });
}

async function createNodes(cleanup: Cleanup): Promise<string[]> {
  const names = Array.from({ length: NODES }, (_, i) => `kwok-node-${i}`);
  for (const name of names) {
    await core.createNode({ body: { metadata: { name, labels: { type: 'kwok', 'kubernetes.io/hostname': name }, annotations: { 'kwok.x-k8s.io/node': 'fake' } },
      // Tainted, so the scheduler never puts a real pod (the controller after its restart) where no process would run it; the bench's pods name their Node.
      spec: { taints: [{ key: 'kwok.x-k8s.io/node', value: 'fake', effect: 'NoSchedule' }] } } }).catch(() => undefined);
  }
  cleanup.after(async () => { for (const name of names) await core.deleteNode({ name }).catch(() => undefined); });
  await until('kwok Nodes Ready', async () => {
    const ready = (await core.listNode({ labelSelector: 'type=kwok' })).items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
    return ready.length === NODES ? true : undefined;
  }, 120_000);
  return names;
}

/** Grows the namespace to `pods` pods in Services of PODS_PER_SERVICE; returns the Service names. */
async function growTo(pods: number, nodes: string[], have: { services: number }): Promise<string[]> {
  const services = pods / PODS_PER_SERVICE;
  const jobs: (() => Promise<unknown>)[] = [];
  for (let s = have.services; s < services; s++) {
    const name = `svc-${s}`;
    jobs.push(() => core.createNamespacedService({ namespace: NS, body: { metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80, targetPort: 8080 }] } } }));
    for (let p = 0; p < PODS_PER_SERVICE; p++) {
      const pod: V1Pod = {
        metadata: { name: `${name}-${p}`, labels: { app: name } },
        spec: { nodeName: nodes[(s * PODS_PER_SERVICE + p) % nodes.length]!, containers: [{ name: 'app', image: IMAGES.echo, ports: [{ containerPort: 8080 }] }] },
      };
      jobs.push(() => core.createNamespacedPod({ namespace: NS, body: pod }));
    }
  }
  await pool(jobs, 16, (job) => job());
  have.services = services;
  return Array.from({ length: services }, (_, s) => `svc-${s}`);
}

async function readyEndpoints(): Promise<number> {
  let n = 0;
  let cont: string | undefined;
  do {
    const page = await discovery.listNamespacedEndpointSlice({ namespace: NS, limit: 500, ...(cont ? { _continue: cont } : {}) });
    for (const s of page.items) if (s.metadata?.labels?.['endpointslice.kubernetes.io/managed-by'] !== 'bench') n += (s.endpoints ?? []).filter((e) => e.conditions?.ready).length;
    cont = page.metadata?._continue;
  } while (cont);
  return n;
}

async function informerSync(): Promise<{ ms: number; items: number }> {
  const t0 = performance.now();
  const inf = new Informer<V1Pod>({ kubeConfig: kc, path: '/api/v1/pods', onEvent: () => undefined });
  inf.start();
  await inf.synced;
  const ms = performance.now() - t0;
  const items = inf.list().length;
  inf.stop();
  return { ms, items };
}

/** The resident memory (MiB, anonymous + file) of each process of a component, found by command line as bench/soak.ts does. */
async function rssOf(component: string): Promise<number[]> {
  const out: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replaceAll('\0', ' ');
      if (componentOf(cmdline, await readFile(`/proc/${entry}/environ`, 'utf8'), NS) !== component) continue;
      const r = await rssParts(Number(entry));
      out.push(Math.round(r.anonMiB + r.fileMiB));
    } catch { /* gone, or not ours to read */ }
  }
  return out;
}

interface Sub { client: DiscoveryClient; probeSeen: (ip: string) => boolean; firstSnapshots: () => number; watches: number }

async function subscribe(cleanup: Cleanup, clientOf: () => Promise<DiscoveryClient>, count: number, services: string[]): Promise<Sub[]> {
  const subs: Sub[] = [];
  for (let c = 0, made = 0; made < count; c++) {
    const client = await clientOf();
    const n = Math.min(WATCHES_PER_SESSION, count - made);
    let first = 0;
    const probeIps = new Set<string>();
    for (let w = 0; w < n; w++) {
      // Watch 0 of every session is the probed Service; the rest spread over all of them.
      const svc = w === 0 ? services[0]! : services[(c * WATCHES_PER_SESSION + w) % services.length]!;
      let got = false;
      client.watch(`${svc}.${NS}.svc.cluster.local:80`, (u) => {
        if (!got) { got = true; first++; }
        if (w === 0) for (const e of u.endpoints) probeIps.add(e.ip);
      });
    }
    cleanup.after(() => client.close());
    subs.push({ client, probeSeen: (ip) => probeIps.has(ip), firstSnapshots: () => first, watches: n });
    made += n;
  }
  return subs;
}

/** An EndpointSlice of the probed Service written by the bench: an address appears; each client's time to see it. */
async function probeChange(subs: Sub[], rep: number): Promise<number[]> {
  const ip = `198.18.191.${10 + rep}`;
  const name = `bench-probe-${rep}`;
  await discovery.createNamespacedEndpointSlice({
    namespace: NS, body: {
      metadata: { name, labels: { 'kubernetes.io/service-name': 'svc-0', 'endpointslice.kubernetes.io/managed-by': 'bench' } },
      addressType: 'IPv4', ports: [{ port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: [ip], conditions: { ready: true } }],
    },
  });
  const t0 = performance.now();
  const seen = new Map<Sub, number>();
  const end = Date.now() + 120_000;
  while (seen.size < subs.length && Date.now() < end) {
    for (const s of subs) if (!seen.has(s) && s.probeSeen(ip)) seen.set(s, performance.now() - t0);
    await new Promise((r) => setImmediate(r));
  }
  await discovery.deleteNamespacedEndpointSlice({ namespace: NS, name }).catch(() => undefined);
  if (seen.size < subs.length) log(`change ${rep}: ${subs.length - seen.size} of ${subs.length} clients did not see it within 120 s`);
  return [...seen.values()];
}

const cleanups: (() => unknown)[] = [];
const cleanup: Cleanup = { after: (fn: () => unknown) => { cleanups.push(fn); } };
const rows: string[] = [];
// Stopped from outside (a time limit): kwok, the Nodes and the namespace still go.
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void (async () => { for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined); process.exit(130); })();
  });
}
try {
  log('installing Skein (manifests/, the test bed\'s settings)');
  const { trust } = await installSkein(cleanup);
  startKwok(cleanup);
  const nodes = await createNodes(cleanup);
  await core.createNamespace({ body: { metadata: { name: NS } } });
  cleanups.push(() => kubectl('delete', 'namespace', NS, '--wait=false'));
  const identity = await workloadIdentity(cleanup, trust, NS, 'bench');
  await until('the workload certificate', () => Promise.resolve(identity.current ? true : undefined), 60_000);
  const have = { services: 0 };
  rows.push('pods   services subs   endpoints-ready  informer-sync        controller-ready  first-snapshots  change→all clients p50 / p99   controller RSS  webhook RSS');
  for (const pods of steps) {
    log(`growing to ${pods} pods`);
    const tGrow = performance.now();
    const services = await growTo(pods, nodes, have);
    await until(`${pods} ready endpoints`, async () => ((await readyEndpoints()) >= pods ? true : undefined), 10 * 60_000);
    const growS = (performance.now() - tGrow) / 1000;
    const sync = await informerSync();
    const tRestart = performance.now();
    await apps.patchNamespacedDeployment({ namespace: 'skein-system', name: 'skein-controller', body: [{ op: 'add', path: '/spec/template/metadata/annotations', value: { 'bench.skein.dev/restart': String(Date.now()) } }] });
    await kubectl('-n', 'skein-system', 'rollout', 'status', 'deployment/skein-controller', '--timeout=600s');
    const readyS = (performance.now() - tRestart) / 1000;
    const subsWanted = pods;
    const tSub = performance.now();
    const subs = await subscribe(cleanup, () => discoveryClient(cleanup, trust, identity, NS), subsWanted, services);
    const total = subs.reduce((n, s) => n + s.watches, 0);
    await until(`${total} first snapshots`, () => Promise.resolve(subs.reduce((n, s) => n + s.firstSnapshots(), 0) >= total ? true : undefined), 10 * 60_000);
    const subS = (performance.now() - tSub) / 1000;
    const latencies: number[] = [];
    for (let rep = 0; rep < repeats; rep++) latencies.push(...await probeChange(subs, rep));
    latencies.sort((a, b) => a - b);
    const [controllerRss, webhookRss] = [await rssOf('skein-controller'), await rssOf('skein-webhook')];
    const row = `${String(pods).padEnd(6)} ${String(services.length).padEnd(8)} ${String(total).padEnd(6)} ${`${growS.toFixed(1)} s`.padEnd(16)} ${`${sync.ms.toFixed(0)} ms (${sync.items} pods)`.padEnd(20)} ${`${readyS.toFixed(1)} s`.padEnd(17)} ${`${subS.toFixed(1)} s`.padEnd(16)} `
      + `${`${percentile(latencies, 50).toFixed(1)} / ${percentile(latencies, 99).toFixed(1)} ms (n=${latencies.length}, ${subs.length} sessions)`.padEnd(31)} ${`${controllerRss.join('+')} MiB`.padEnd(15)} ${webhookRss.join('+')} MiB`;
    rows.push(row);
    log(row);
    for (const s of subs) s.client.close();
  }
} finally {
  for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch((err: unknown) => log(`clean-up: ${(err as Error).message}`));
  const [load1] = (await readFile('/proc/loadavg', 'utf8')).split(' ');
  console.log(`\nscale (kwok ${NODES} nodes, ${PODS_PER_SERVICE} pods per Service, ${WATCHES_PER_SESSION} watches per session; load average ${load1 ?? '?'} at the end)`);
  for (const r of rows) console.log(r);
}
