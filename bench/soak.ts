// Soak (issue #10 "Report"): mixed traffic through the mesh on the local
// cluster — HTTP/1 (e2e/apps/load at a steady rate), gRPC unary and server
// streaming, opaque TCP — for `--minutes N` (default 10) while faults are
// injected on a schedule: a backend pod killed with grace 0, the controller
// (discovery) killed, skein-identity down for a while, the API server
// restarted. Prints what was sent and what failed, a histogram of failure
// causes (status and skein-proxy-error, gRPC code, connection error), and
// each component's peak RSS read from /proc (the local node runs pods as
// processes). Numbers, not a pass/fail verdict.
//
//   node e2e/cluster/cluster.ts run -- node bench/soak.ts --minutes 3
import type { TestContext } from 'node:test';
import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { kubeConfig, kubectl } from '../e2e/support/kube.ts';
import { installSkein } from '../e2e/support/skein.ts';
import { run, readyPods, clusterIP, lastReport, meshedNamespace } from '../e2e/support/mesh.ts';
import { peakRssMiB } from './lib/proc.ts';
import { componentOf, failureCauses, parseMinutes, total } from './lib/soak-parts.ts';
import { IMAGES } from '../e2e/support/images.ts';

const REPO = resolve(import.meta.dirname, '..');
const exec = promisify(execFile);

interface Fault { name: string; inject: (ns: string) => Promise<string> }

const core = kubeConfig().makeApiClient(CoreV1Api);
const SERVERS = ['echo', 'grpc', 'tcp'];
/** How long skein-identity stays away in the identity-down fault. */
const IDENTITY_DOWN_MS = 20_000;
const RSS_SAMPLE_MS = 5_000;

const FAULTS: Fault[] = [
  {
    name: 'pod kill (grace 0)',
    async inject(ns) {
      const pods = (await core.listNamespacedPod({ namespace: ns })).items.filter((p) => SERVERS.includes(p.metadata?.labels?.app ?? '') && !p.metadata?.deletionTimestamp);
      const victim = pods[Math.floor(Math.random() * pods.length)]?.metadata?.name ?? '';
      await kubectl('-n', ns, 'delete', 'pod', victim, '--grace-period=0', '--force', '--wait=false');
      return victim;
    },
  },
  {
    name: 'controller kill',
    async inject() {
      await kubectl('-n', 'skein-system', 'delete', 'pod', '-l', 'app.kubernetes.io/name=skein-controller', '--grace-period=0', '--force', '--wait=false');
      return 'skein-controller pods deleted with grace 0';
    },
  },
  {
    name: 'identity down',
    async inject() {
      await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-identity', '--replicas=0');
      await sleep(IDENTITY_DOWN_MS);
      await kubectl('-n', 'skein-system', 'scale', 'deployment/skein-identity', '--replicas=1');
      return `skein-identity at 0 replicas for ${IDENTITY_DOWN_MS / 1000} s`;
    },
  },
  {
    name: 'API server restart',
    async inject() {
      const cluster = resolve(REPO, 'e2e/cluster/cluster.ts');
      await exec(process.execPath, [cluster, 'stop', 'kube-apiserver']);
      await exec(process.execPath, [cluster, 'up']);
      return 'kube-apiserver stopped and started again';
    },
  },
];

/** Peak RSS per component over the run: the highest VmHWM any of its processes reached while sampled. */
class RssSampler {
  readonly peaks = new Map<string, { mib: number; pids: Set<number> }>();
  readonly #ns: string;
  #timer: NodeJS.Timeout | undefined;

  constructor(ns: string) { this.#ns = ns; }

  start(): void {
    const tick = () => { void this.sample().finally(() => { this.#timer = setTimeout(tick, RSS_SAMPLE_MS); }); };
    tick();
  }

  stop(): void { clearTimeout(this.#timer); }

  async sample(): Promise<void> {
    for (const entry of await readdir('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid)) continue;
      try {
        const cmdline = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
        if (!cmdline.includes('skein') && !cmdline.includes('proxy-image') && !cmdline.includes('kube-apiserver')) continue;
        const component = componentOf(cmdline, await readFile(`/proc/${pid}/environ`, 'utf8'), this.#ns);
        if (!component) continue;
        const mib = await peakRssMiB(pid);
        const peak = this.peaks.get(component) ?? { mib: 0, pids: new Set<number>() };
        peak.pids.add(pid);
        if (mib > peak.mib) peak.mib = mib;
        this.peaks.set(component, peak);
      } catch {
        // The process ended between listing and reading: it is simply not sampled.
      }
    }
  }
}

interface HttpReport { sent: number; ok: number; failed: Record<string, number>; byCause?: Record<string, number>; failures?: { at: string; cause: string; proxyError?: string }[] }
interface GrpcReport { unaryOk: number; streamsOk: number; errors: Record<string, number>; failures?: { at: string; call: string; code: string; details: string }[] }
interface TcpReport { ok: number; failed: Record<string, number> }

async function main(): Promise<void> {
  const minutes = parseMinutes(process.argv.slice(2));
  const cleanups: (() => unknown)[] = [];
  // installSkein and meshedNamespace clean up through a test context's after(); the soak gives them one.
  const context = { after: (fn: () => unknown) => { cleanups.push(fn); } } as unknown as TestContext;
  const sampler = { current: undefined as RssSampler | undefined };
  try {
    await installSkein(context);
    const ns = await meshedNamespace(context);
    await run(ns, { name: 'echo', image: IMAGES.echo, sa: 'echo', replicas: 3, port: 8080 });
    await run(ns, { name: 'grpc', image: IMAGES.grpc, sa: 'grpc', replicas: 2, port: 9090 });
    await run(ns, { name: 'tcp', image: IMAGES.tcpEcho, sa: 'tcp', replicas: 2, port: 9000 });
    await Promise.all([readyPods(ns, 'echo', 3), readyPods(ns, 'grpc', 2), readyPods(ns, 'tcp', 2)]);
    await run(ns, { name: 'http-client', image: IMAGES.load, sa: 'client', env: { TARGET: `http://${await clusterIP(ns, 'echo')}/`, RPS: '50' } });
    await run(ns, { name: 'grpc-client', image: IMAGES.grpc, sa: 'client', env: { MODE: 'client', TARGET: `${await clusterIP(ns, 'grpc')}:9090` } });
    await run(ns, { name: 'tcp-client', image: IMAGES.tcpEcho, sa: 'client', env: { MODE: 'client', TARGET: `${await clusterIP(ns, 'tcp')}:9000` } });
    const clients = await Promise.all(['http-client', 'grpc-client', 'tcp-client'].map(async (app) => (await readyPods(ns, app, 1))[0]?.metadata?.name ?? ''));
    const [httpClient = '', grpcClient = '', tcpClient = ''] = clients;
    const rss = new RssSampler(ns);
    sampler.current = rss;
    rss.start();

    const runMs = minutes * 60_000;
    // About nine faults a run, at least 20 s apart so each one's effect is over before the next.
    const everyMs = Math.max(20_000, Math.min(60_000, runMs / 9));
    const started = Date.now();
    const log: { at: number; fault: string; what: string }[] = [];
    console.error(`soak: ${minutes} min of HTTP/1 + gRPC + TCP through the mesh in ${ns}, a fault every ${Math.round(everyMs / 1000)} s`);
    for (let i = 0; Date.now() - started + everyMs < runMs; i++) {
      await sleep(everyMs);
      const fault = FAULTS[i % FAULTS.length] as Fault;
      const at = Math.round((Date.now() - started) / 1000);
      const what = await fault.inject(ns).catch((err: unknown) => `failed to inject: ${err instanceof Error ? err.message : String(err)}`);
      log.push({ at, fault: fault.name, what });
      console.error(`  +${at}s ${fault.name}: ${what}`);
    }
    await sleep(Math.max(0, runMs - (Date.now() - started)));
    rss.stop();

    const http = await lastReport<HttpReport>(ns, httpClient);
    const grpc = await lastReport<GrpcReport>(ns, grpcClient);
    const tcp = await lastReport<TcpReport>(ns, tcpClient);
    console.log(`\n## Soak: ${minutes} min, ${log.length} faults\n`);
    console.log('| traffic | sent | failed | failure causes |\n| --- | ---: | ---: | --- |');
    if (http) console.log(`| HTTP/1 (${http.sent} requests at 50/s) | ${http.sent} | ${total(http.failed)} | ${failureCauses(http.byCause ?? http.failed)} |`);
    if (grpc) {
      const failed = total(grpc.errors);
      console.log(`| gRPC unary + server streaming | ${grpc.unaryOk + grpc.streamsOk + failed} | ${failed} | ${failureCauses(grpc.errors, 'grpc ')} |`);
    }
    if (tcp) console.log(`| opaque TCP round trips | ${tcp.ok + total(tcp.failed)} | ${total(tcp.failed)} | ${failureCauses(tcp.failed)} |`);
    // When the last failures happened, next to the fault log: which fault they belong to.
    const since = (at: string) => `+${Math.round((Date.parse(at) - started) / 1000)}s`;
    const lastFailures = (http?.failures ?? []).map((f) => `${since(f.at)} ${f.cause}${f.proxyError ? `/${f.proxyError}` : ''}`);
    if (lastFailures.length > 0) console.log(`\nThe last ${lastFailures.length} HTTP failures: ${lastFailures.join(', ')}`);
    const lastGrpc = (grpc?.failures ?? []).map((f) => `${since(f.at)} ${f.call} ${f.code} (${f.details})`);
    if (lastGrpc.length > 0) console.log(`\nThe last ${lastGrpc.length} gRPC failures: ${lastGrpc.join(', ')}`);
    console.log('\n| at | fault | what |\n| ---: | --- | --- |');
    for (const f of log) console.log(`| +${f.at}s | ${f.fault} | ${f.what} |`);
    console.log('\n| component | peak RSS (VmHWM) | processes seen |\n| --- | ---: | ---: |');
    for (const [name, p] of [...rss.peaks].sort()) console.log(`| ${name} | ${p.mib.toFixed(1)} MiB | ${p.pids.size} |`);
  } finally {
    sampler.current?.stop();
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch((err: unknown) => console.error(`cleanup: ${String(err)}`));
  }
}

await main();
