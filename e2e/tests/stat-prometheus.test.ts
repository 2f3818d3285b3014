// `kubectl skein stat --prometheus` against a real Prometheus (the Debian
// package scripts/system-deps.sh installs) that scrapes real proxies with the
// job docs/prometheus.md ships, its relabelling verbatim; only its Kubernetes
// discovery is replaced by a file of the targets it would find. One load run with a known failure
// rate is read three ways: Prometheus by deployment and by pod, and the pod
// proxy path over the same seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { promisify } from 'node:util';
import { parse, stringify } from 'yaml';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { eventually, kubeConfig } from '../support/kube.ts';
import { REPO, installSkein } from '../support/skein.ts';
import { run, readyPods, clusterIP, meshedNamespace } from '../support/mesh.ts';
import type { StatRow } from '../../cli/stat/aggregate.ts';
import { IMAGES } from '../support/images.ts';

const exec = promisify(execFile);
const CLI = join(REPO, 'cli/bin/kubectl-skein');
const ECHO = IMAGES.echo;
const LOAD = IMAGES.load;
const core = kubeConfig().makeApiClient(CoreV1Api);
const FAIL_RATE = 0.2;
const RPS = 50;
const WINDOW_S = 10;

/** The scrape job docs/prometheus.md tells users to add: its first yaml block. */
function shippedScrapeJob(): Record<string, unknown> {
  const doc = readFileSync(join(REPO, 'docs/prometheus.md'), 'utf8');
  const block = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'docs/prometheus.md has a yaml block');
  const jobs = parse(block) as Record<string, unknown>[];
  assert.equal(jobs.length, 1);
  return jobs[0] ?? {};
}

/** Prometheus's label-name sanitising: every character outside [a-zA-Z0-9_] becomes _. */
const labelName = (text: string) => text.replace(/[^a-zA-Z0-9_]/g, '_');

/**
 * The targets Prometheus's Kubernetes pod role discovers, one per container port of every container (init
 * containers too: a native sidecar proxy is one) with the same __meta_kubernetes_* labels. Debian builds Prometheus
 * without Kubernetes discovery, so the test reads the pods from the API server and hands them over as file_sd.
 */
function podRoleTargets(pods: readonly V1Pod[]): { targets: string[]; labels: Record<string, string> }[] {
  return pods.filter((p) => p.status?.podIP).flatMap((pod) => {
    const ip = pod.status?.podIP ?? '';
    const owner = pod.metadata?.ownerReferences?.find((o) => o.controller);
    const common: Record<string, string> = {
      __meta_kubernetes_namespace: pod.metadata?.namespace ?? '', __meta_kubernetes_pod_name: pod.metadata?.name ?? '',
      __meta_kubernetes_pod_ip: ip, __meta_kubernetes_pod_phase: pod.status?.phase ?? '',
      ...(owner ? { __meta_kubernetes_pod_controller_kind: owner.kind, __meta_kubernetes_pod_controller_name: owner.name } : {}),
      ...Object.fromEntries(Object.entries(pod.metadata?.labels ?? {}).flatMap(([k, v]) => [
        [`__meta_kubernetes_pod_label_${labelName(k)}`, v], [`__meta_kubernetes_pod_labelpresent_${labelName(k)}`, 'true']])),
    };
    const containers = [...(pod.spec?.initContainers ?? []).map((c) => ({ c, init: true })), ...(pod.spec?.containers ?? []).map((c) => ({ c, init: false }))];
    return containers.flatMap(({ c, init }) => {
      const labels = { ...common, __meta_kubernetes_pod_container_name: c.name, __meta_kubernetes_pod_container_init: String(init) };
      if (!c.ports?.length) return [{ targets: [ip], labels }];
      return c.ports.map((port) => ({
        targets: [`${ip}:${port.containerPort}`],
        labels: { ...labels, __meta_kubernetes_pod_container_port_name: port.name ?? '', __meta_kubernetes_pod_container_port_number: String(port.containerPort),
          __meta_kubernetes_pod_container_port_protocol: port.protocol ?? 'TCP' },
      }));
    });
  });
}

/** The shipped job, its Kubernetes discovery replaced by a file of the same targets; the relabelling is untouched. */
function testScrapeConfig(targetsFile: string): string {
  const { kubernetes_sd_configs: sd, ...job } = shippedScrapeJob();
  assert.deepEqual(sd, [{ role: 'pod' }], 'the shipped job discovers pods');
  return stringify({ global: { scrape_interval: '1s', evaluation_interval: '1s' }, scrape_configs: [{ ...job, file_sd_configs: [{ files: [targetsFile] }] }] });
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** A Prometheus of the test's own, on loopback, its TSDB in a temp dir; stopped (bounded) and removed when the test ends. */
async function startPrometheus(t: { after: (fn: () => Promise<void> | void) => void }, pods: readonly V1Pod[]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'skein-prometheus-'));
  writeFileSync(join(dir, 'targets.json'), JSON.stringify(podRoleTargets(pods)));
  writeFileSync(join(dir, 'prometheus.yml'), testScrapeConfig(join(dir, 'targets.json')));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let log = '';
  const child: ChildProcess = spawn('prometheus', [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    '--storage.tsdb.retention.time=1h', '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr?.on('data', (c: Buffer) => { log = (log + c.toString()).slice(-4000); });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const exited = once(child, 'exit').then(() => { throw new Error(`prometheus exited ${child.exitCode ?? child.signalCode}: ${log}`); });
  await Promise.race([exited, eventually(`Prometheus ready at ${url}`, async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined), 30_000)]);
  return url;
}

/** One instant PromQL query's vector. */
async function promVector(url: string, query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${url}/api/v1/query?${new URLSearchParams({ query }).toString()}`);
  const body = await res.json() as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  assert.equal(body.status, 'success', `${query}: ${body.error ?? ''}`);
  return body.data.result;
}

/** What Prometheus says of each active target: for a failure message. */
async function targetHealth(url: string): Promise<string> {
  const body = await (await fetch(`${url}/api/v1/targets`)).json() as { data: { activeTargets: { scrapeUrl: string; health: string; lastError: string; labels: Record<string, string> }[] } };
  return JSON.stringify(body.data.activeTargets.map((x) => ({ url: x.scrapeUrl, health: x.health, error: x.lastError, labels: x.labels })));
}

/** `kubectl skein stat <args> -o json`: its rows. */
async function stat(...args: string[]): Promise<StatRow[]> {
  const env = { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH ?? ''}` };
  const { stdout } = await exec(CLI, ['stat', ...args, '-o', 'json'], { env });
  return (JSON.parse(stdout) as { rows: StatRow[] }).rows;
}

/** Four binomial standard deviations of a share measured over n requests. */
const fourSigma = (p: number, n: number) => 4 * Math.sqrt((p * (1 - p)) / Math.max(n, 1));
/** The row's success rate is the injected one, within four sigma of its request count. */
const nearFailRate = (row: StatRow | undefined) => row?.successRate !== undefined && Math.abs(row.successRate - (1 - FAIL_RATE)) <= fourSigma(FAIL_RATE, row.requests);

function assertLatencyOrdered(row: StatRow, what: string): void {
  const { p50, p95, p99 } = row;
  assert.ok(p50 !== undefined && p95 !== undefined && p99 !== undefined && p50 > 0 && p50 <= p95 && p95 <= p99, `${what}: p50 ≤ p95 ≤ p99, got ${JSON.stringify(row)}`);
}

test('stat --prometheus reads a real Prometheus scraping the proxies with the shipped job, and agrees with the pod proxy path', { timeout: 300_000 }, async (t) => {
  await installSkein(t);
  const ns = await meshedNamespace(t);
  await run(ns, { name: 'server', image: ECHO, sa: 'server', replicas: 2, port: 8080, env: { FAIL_RATE: String(FAIL_RATE) } });
  const servers = await readyPods(ns, 'server', 2);
  await run(ns, { name: 'client', image: LOAD, sa: 'client', env: { TARGET: `http://${await clusterIP(ns, 'server')}/`, RPS: String(RPS) } });
  await readyPods(ns, 'client', 1);

  const pods = (await core.listNamespacedPod({ namespace: ns })).items;
  const prometheus = await startPrometheus(t, pods);
  // Only the proxies' admin ports are kept (not the apps' 8080 nor the proxies' other ports), each with namespace, pod and deployment.
  const up = await eventually('Prometheus to scrape the three proxies', async () => {
    const v = await promVector(prometheus, 'up{job="skein-proxy"}');
    return v.length === 3 && v.every((s) => s.value[1] === '1') ? v : undefined;
  }, 30_000).catch(async (err: unknown) => { throw new Error(`${(err as Error).message}; targets: ${await targetHealth(prometheus)}`); });
  assert.deepEqual(up.map((s) => `${s.metric.namespace}/${s.metric.deployment}/${s.metric.instance?.endsWith(':4191')}`).sort(),
    [`${ns}/client/true`, `${ns}/server/true`, `${ns}/server/true`]);
  assert.deepEqual(up.map((s) => s.metric.pod).filter((p) => p?.startsWith('server-')).sort(), servers.map((p) => p.metadata?.name).sort());
  // Both server pods (inbound) and the client (outbound) scraped often enough that a WINDOW_S rate has many samples.
  await eventually('Prometheus to hold ≥ 5 scrapes of request_total from each meshed pod', async () => {
    const scrapes = await promVector(prometheus, `max by (pod) (count_over_time(request_total{namespace="${ns}"}[1m]))`);
    return scrapes.length === 3 && scrapes.every((s) => Number(s.value[1]) >= 5) ? scrapes : undefined;
  }, 60_000);

  // The pod proxy path measures the next WINDOW_S; Prometheus is then asked about the WINDOW_S just past: the same traffic, give or take a scrape.
  const window = ['-n', ns, '--window', `${WINDOW_S}s`];
  const [direct, directRoutes] = await Promise.all([stat('deploy', ...window), stat('route', ...window)]);
  const [byDeploy, byPod, fromClient, routes] = await Promise.all([
    stat('deploy', ...window, '--prometheus', prometheus),
    stat('pod', ...window, '--prometheus', prometheus),
    stat('deploy', ...window, '--from', 'deploy/client', '--prometheus', prometheus),
    stat('route', ...window, '--prometheus', prometheus),
  ]);

  // Only the server answers requests; both paths list the meshed client too, idle (0 rps, no success rate):
  // Prometheus has no inbound series of the client's proxy, the row comes from the pod list.
  // -o json writes an unknown success rate as null.
  const idleClient = (rows: StatRow[]) => rows.map((r) => [r.name, r.rps === 0, (r.successRate ?? null) === null]);
  assert.deepEqual(idleClient(byDeploy), [['client', true, true], ['server', false, false]], JSON.stringify(byDeploy));
  assert.deepEqual(idleClient(direct), [['client', true, true], ['server', false, false]], JSON.stringify(direct));
  const fromProm = byDeploy[1] as StatRow;
  const fromProxies = direct[1] as StatRow;
  assert.equal(fromProm.namespace, ns);
  assert.ok(fromProm.rps > RPS * 0.5 && fromProm.rps < RPS * 1.5, `about ${RPS} requests/s, got ${fromProm.rps}`);
  assert.ok(nearFailRate(fromProm), `success rate near ${1 - FAIL_RATE} over ${fromProm.requests} requests, got ${fromProm.successRate}`);
  assertLatencyOrdered(fromProm, 'server by deployment (Prometheus)');
  // Two estimates of one rate over nearly the same requests: within the spread of their difference.
  assert.ok(fromProm.successRate !== undefined && fromProxies.successRate !== undefined
    && Math.abs(fromProm.successRate - fromProxies.successRate) <= fourSigma(FAIL_RATE, fromProm.requests) * Math.SQRT2,
  `Prometheus ${fromProm.successRate} vs pod proxy ${fromProxies.successRate}`);
  assert.ok(Math.abs(fromProm.rps - fromProxies.rps) <= 0.25 * fromProxies.rps, `Prometheus ${fromProm.rps}/s vs pod proxy ${fromProxies.rps}/s`);

  // By pod: both server pods, each with its share of the load, the same failure rate and ordered quantiles (and the client pod, idle).
  const serverPods = byPod.filter((r) => r.name.startsWith('server-'));
  assert.deepEqual(serverPods.map((r) => r.name).sort(), servers.map((p) => p.metadata?.name).sort(), JSON.stringify(byPod));
  assert.deepEqual(byPod.filter((r) => !r.name.startsWith('server-')).map((r) => [r.name.startsWith('client-'), r.rps]), [[true, 0]], JSON.stringify(byPod));
  for (const row of serverPods) {
    assert.ok(row.rps > 0, `${row.name} has traffic`);
    assert.ok(nearFailRate(row), `${row.name}: ${JSON.stringify(row)}`);
    assertLatencyOrdered(row, `${row.name} (Prometheus)`);
  }
  const podRps = serverPods.reduce((a, r) => a + r.rps, 0);
  // Two instant queries a moment apart: a scrape may fall between them.
  assert.ok(Math.abs(podRps - fromProm.rps) <= 0.1 * fromProm.rps, `pods add up to the deployment: ${podRps} vs ${fromProm.rps}`);

  // The client's side (outbound, dst_* labels from discovery) sees the same failures, and without a ServiceProfile its one route is [default] on both paths.
  assert.deepEqual(fromClient.map((r) => r.name), ['server'], JSON.stringify(fromClient));
  assert.ok(nearFailRate(fromClient[0]), `--from deploy/client: ${JSON.stringify(fromClient)}`);
  const routeKeys = (rows: StatRow[]) => rows.map((r) => `${r.name} ${r.authority ?? ''}`);
  assert.deepEqual(routeKeys(routes), routeKeys(directRoutes), `Prometheus ${JSON.stringify(routes)} vs pod proxy ${JSON.stringify(directRoutes)}`);
  assert.equal(routes[0]?.name, '[default]');
  assert.ok(nearFailRate(routes[0]), `route: ${JSON.stringify(routes)}`);
  t.diagnostic(`Prometheus: ${JSON.stringify(fromProm)}; pod proxy: ${JSON.stringify(fromProxies)}`);
});
