// The proxy benchmark of issues #7 and #18: the same load direct to an nginx
// upstream, through nginx and through HAProxy (single-hop references), and
// through two Skein proxies with mutual TLS between them (outbound hop →
// inbound hop → upstream) on Node 24 and, when it is installed
// (scripts/bun.sh), on Bun, and through the naive Node chain of the same
// shape (Node's own ceiling for an HTTP-aware mTLS proxy, lib/naive-hop.ts),
// in one run on this machine. Everything on loopback; every run bounded in
// time. Reports requests/s, p50/p99, each proxy's CPU, its idle and peak RSS
// (anonymous + file-backed), and the ratios the issue sets goals for.
//   node bench/proxy.ts [--duration 10] [--rounds 3] [--only skein] [--profile DIR] [--bun PATH] [--bundled]
// --bundled runs the Skein hops as the image does: one esbuild bundle
// (images/bundle.ts's options), so no TypeScript stripper and no source tree
// in memory, which is what the idle and peak RSS goals are about.
// --profile writes a V8 CPU profile of each Skein hop into DIR (open it in
// Chrome DevTools); --only runs just the targets whose name starts with one of
// its comma-separated words (e.g. --only skein,haproxy,node);
// --node-flags="--a --b" runs the Skein hops with these Node flags instead of node-runtime's
// (to try V8 settings before changing proxy-image/proxy/node-runtime).
import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, writeFile, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { APP_DIR, bundle } from '../images/bundle.ts';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { createCa, issueLeaf, privateKeyPem } from '../shared/tls.ts';
import { identityName } from '../api/identity-names.ts';
import { runWrk, type WrkResult } from './lib/wrk.ts';
import { cpuSeconds, peakRssMiB, rssParts, type RssParts } from './lib/proc.ts';
import { existsSync } from 'node:fs';
import { startUpstream, startNginxProxy, startHaproxy, waitForPort, type Running } from './lib/references.ts';
import { percentile } from './stats.ts';
import { proxyNodeRuntime } from '../proxy-image/proxy/node-runtime.ts';

const { values } = parseArgs({ options: { duration: { type: 'string', default: '10' }, rounds: { type: 'string', default: '3' }, only: { type: 'string' }, profile: { type: 'string' }, 'node-flags': { type: 'string' }, bun: { type: 'string' }, bundled: { type: 'boolean', default: false } } });
/** Bun from the npm registry, as scripts/bun.sh installs it; the Bun target is left out without it. */
const BUN = values.bun ?? resolve(import.meta.dirname, '../.tools/bun/node_modules/.bin/bun');
const DURATION = Number(values.duration);
const ROUNDS = Number(values.rounds);
const runtime = proxyNodeRuntime();
const PORTS = { upstream: 18080, nginx: 18081, haproxy: 18082, skeinOut: 18090, skeinIn: 18091, naiveOut: 18092, naiveIn: 18093, bunOut: 18094, bunIn: 18095 };

async function certificates(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'skein-bench-certs-'));
  const ca = await createCa({ commonName: 'bench root', validForMs: 86_400_000, pathLength: 1 });
  await writeFile(join(dir, 'ca.pem'), ca.cert.toString('pem'));
  for (const [role, sa] of [['outbound', 'client'], ['inbound', 'server']] as const) {
    const id = identityName(sa, 'bench', 'cluster.local');
    const { cert, keys } = await issueLeaf(ca, { subject: `CN=${id}`, dnsNames: [id], usages: ['server', 'client'], validForMs: 86_400_000 });
    if (!keys) throw new Error('issueLeaf made no key pair');
    await writeFile(join(dir, `${role}.crt`), cert.toString('pem'));
    await writeFile(join(dir, `${role}.key`), await privateKeyPem(keys.privateKey));
  }
  return dir;
}

/** bench/lib/skein-hop.ts bundled as images/bundle.ts bundles the proxy, in `dir`; returns the entry's path. */
async function bundledHop(dir: string): Promise<string> {
  const { tree } = await bundle({ entries: { 'skein-hop': 'bench/lib/skein-hop.ts' } });
  for (const [path, entry] of tree) {
    const to = join(dir, relative(APP_DIR, path));
    await mkdir(dirname(to), { recursive: true });
    if (entry.kind === 'data') await writeFile(to, entry.data);
    else if (entry.kind === 'file') await copyFile(entry.from, to);
  }
  return join(dir, 'skein-hop.mjs');
}

/** Node flags for one hop: the proxy's own (proxy-image/proxy/node-runtime), and a CPU profile per hop when asked for. */
function hopNodeArgs(role: string): string[] {
  const profile = values.profile ? ['--cpu-prof', '--cpu-prof-dir', resolve(values.profile), '--cpu-prof-name', `${role}.cpuprofile`] : [];
  const flags = values['node-flags'] === undefined ? runtime.flags : values['node-flags'].split(' ').filter((f) => f !== '');
  return [...flags, ...profile];
}

/**
 * Two hops of `script` (lib/skein-hop.ts or lib/naive-hop.ts), outbound → inbound → upstream,
 * each in its own process with `nodeArgs(role)`.
 */
async function startChain(script: string, ports: { out: number; in: number }, certDir: string, nodeArgs: (role: string) => string[], env: Record<string, string>, exec = process.execPath): Promise<Running> {
  const hop = resolve(import.meta.dirname, script);
  const options = { stdio: ['ignore', 'ignore', 'inherit'] as ('ignore' | 'inherit')[], env: { ...process.env, ...env } };
  const inbound = spawn(exec, [...nodeArgs('inbound'), hop, 'inbound', String(ports.in), String(PORTS.upstream), certDir], options);
  const outbound = spawn(exec, [...nodeArgs('outbound'), hop, 'outbound', String(ports.out), String(ports.in), identityName('server', 'bench', 'cluster.local'), certDir], options);
  // A loaded machine can take seconds to start a runtime: wait for both listeners, not a fixed time.
  await Promise.all([waitForPort(ports.in, 20_000), waitForPort(ports.out, 20_000)]);
  const stop = (p: typeof inbound) => new Promise<void>((r) => { if (p.exitCode !== null) r(); else { p.once('exit', () => r()); p.kill('SIGTERM'); } });
  return { url: `http://127.0.0.1:${ports.out}/`, pids: [outbound.pid ?? 0, inbound.pid ?? 0], stop: async () => { await stop(outbound); await stop(inbound); } };
}

interface Sample {
  name: string; round: number; sat: WrkResult; paced: WrkResult; cpuPctOfCore: number[]; peakRssMiB: number[];
  /** Per process: CPU µs per request over the paced phase (~1,000 req/s, no batching), less sensitive to a loaded machine than saturation. */
  pacedUsPerRequest: number[];
  /** Per process: after start, before any request (a second to settle). */
  idle: RssParts[];
  /** Per process: the largest of each part seen while loaded. */
  loaded: RssParts[];
}

/** The largest anonymous and file-backed RSS of each process, sampled every 250 ms until stopped. */
function sampleRss(pids: number[]): { stop: () => RssParts[] } {
  const max = pids.map(() => ({ anonMiB: 0, fileMiB: 0 }));
  const timer = setInterval(() => {
    pids.forEach((pid, i) => {
      rssParts(pid).then((r) => {
        const m = max[i]!;
        m.anonMiB = Math.max(m.anonMiB, r.anonMiB);
        m.fileMiB = Math.max(m.fileMiB, r.fileMiB);
      }, () => undefined);
    });
  }, 250);
  return { stop: () => { clearInterval(timer); return max; } };
}

async function measure(name: string, round: number, start: () => Promise<Running>): Promise<Sample> {
  const t = await start();
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const idle = await Promise.all(t.pids.map(rssParts));
    const rss = sampleRss(t.pids);
    await runWrk({ url: t.url, connections: 50, durationS: 2 }); // warm-up: connections, JIT, TLS sessions
    const cpu0 = await Promise.all(t.pids.map(cpuSeconds));
    const sat = await runWrk({ url: t.url, connections: 50, durationS: DURATION });
    const cpu1 = await Promise.all(t.pids.map(cpuSeconds));
    // About 1,000 requests/s: 10 connections, each pausing 10 ms (exponential) after every answer.
    const paced = await runWrk({ url: t.url, connections: 10, durationS: DURATION, paceMs: 10 });
    const cpu2 = await Promise.all(t.pids.map(cpuSeconds));
    const peak = await Promise.all(t.pids.map(peakRssMiB));
    return { name, round, sat, paced, cpuPctOfCore: cpu1.map((c, i) => ((c - (cpu0[i] ?? 0)) / DURATION) * 100), peakRssMiB: peak, idle, loaded: rss.stop(),
      pacedUsPerRequest: cpu2.map((c, i) => ((c - (cpu1[i] ?? 0)) / (paced.requestsPerSec * DURATION)) * 1e6) };
  } finally {
    await t.stop();
  }
}

const SKEIN = 'skein (2 hops, mTLS)';
const SKEIN_BUN = 'skein on bun (2 hops, mTLS)';
const NAIVE = 'node naive (2 hops, mTLS)';
const median = (xs: number[]) => percentile([...xs].sort((a, b) => a - b), 50);

async function main(): Promise<void> {
  const certDir = await certificates();
  const skeinHop = values.bundled ? await bundledHop(join(certDir, 'bundle')) : 'lib/skein-hop.ts';
  const upstream = await startUpstream(PORTS.upstream);
  const direct: Running = { url: upstream.url, pids: [], stop: () => Promise.resolve() };
  const targets: [string, () => Promise<Running>][] = [
    ['direct', () => Promise.resolve(direct)],
    ['nginx (1 hop)', () => startNginxProxy(PORTS.nginx, PORTS.upstream)],
    ['haproxy (1 hop)', () => startHaproxy(PORTS.haproxy, PORTS.upstream)],
    // Plain `node`, no proxy flags: what Node gives a naive program.
    [NAIVE, () => startChain('lib/naive-hop.ts', { out: PORTS.naiveOut, in: PORTS.naiveIn }, certDir, () => [], {})],
    [SKEIN, () => startChain(skeinHop, { out: PORTS.skeinOut, in: PORTS.skeinIn }, certDir, hopNodeArgs, runtime.env)],
    // The same code on Bun: no Node flags (Bun has its own), the proxy's environment.
    ...(existsSync(BUN) ? [[SKEIN_BUN, () => startChain(skeinHop, { out: PORTS.bunOut, in: PORTS.bunIn }, certDir, () => [], runtime.env, BUN)] as [string, () => Promise<Running>]] : []),
  ];
  if (!existsSync(BUN)) console.error(`no Bun at ${BUN} (scripts/bun.sh installs it): the Bun target is left out`);
  const only = values.only?.split(',');
  const chosen = targets.filter(([name]) => only === undefined || only.some((w) => name.startsWith(w)));
  const samples: Sample[] = [];
  try {
    // Round-robin, so drift on a shared machine hits every target alike.
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, start] of chosen) {
        const s = await measure(name, round, start);
        samples.push(s);
        console.error(`round ${round + 1}/${ROUNDS} ${name}: ${Math.round(s.sat.requestsPerSec)} req/s, paced ${Math.round(s.paced.requestsPerSec)} req/s p99 ${s.paced.p99Ms.toFixed(3)} ms, errors ${s.sat.errors + s.paced.errors}`);
      }
    }
  } finally {
    await upstream.stop();
    await rm(certDir, { recursive: true, force: true });
  }
  const by = (name: string) => samples.filter((s) => s.name === name);
  const med = (name: string, f: (s: Sample) => number) => median(by(name).map(f));
  console.log(`\nProxy benchmark: wrk -c50 -d${DURATION}s (saturation) and wrk -c10 with 10 ms exponential think time (~1,000 req/s), ${ROUNDS} rounds, medians.\n`);
  console.log('| target | req/s | p50 | p99 | paced req/s | paced p50 | paced p99 | proxy CPU (% of a core) | proxy CPU µs/request | paced CPU µs/request | peak RSS (MiB) | idle RSS anon+file (MiB) | loaded RSS anon+file (MiB) | errors |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [name] of chosen) {
    const cpus = by(name)[0]?.cpuPctOfCore.map((_, i) => med(name, (s) => s.cpuPctOfCore[i] ?? 0).toFixed(0)).join(' + ') || '–';
    const rss = by(name)[0]?.peakRssMiB.map((_, i) => Math.max(...by(name).map((s) => s.peakRssMiB[i] ?? 0)).toFixed(1)).join(' + ') || '–';
    // What carries over to other machines: CPU per request, not req/s on a shared 2-core box.
    const usPerRequest = by(name)[0]?.cpuPctOfCore.map((_, i) => med(name, (s) => ((s.cpuPctOfCore[i] ?? 0) / 100 / s.sat.requestsPerSec) * 1e6).toFixed(0)).join(' + ') || '–';
    const pacedUs = by(name)[0]?.pacedUsPerRequest.map((_, i) => med(name, (s) => s.pacedUsPerRequest[i] ?? 0).toFixed(0)).join(' + ') || '–';
    const errors = by(name).reduce((n, s) => n + s.sat.errors + s.paced.errors, 0);
    const parts = (f: (s: Sample) => RssParts[]) => by(name)[0]?.idle.map((_, i) => `${med(name, (s) => f(s)[i]?.anonMiB ?? 0).toFixed(0)}+${med(name, (s) => f(s)[i]?.fileMiB ?? 0).toFixed(0)}`).join(' / ') || '–';
    console.log(`| ${name} | ${med(name, (s) => s.sat.requestsPerSec).toFixed(0)} | ${med(name, (s) => s.sat.p50Ms).toFixed(3)} ms | ${med(name, (s) => s.sat.p99Ms).toFixed(3)} ms | ${med(name, (s) => s.paced.requestsPerSec).toFixed(0)} | ${med(name, (s) => s.paced.p50Ms).toFixed(3)} ms | ${med(name, (s) => s.paced.p99Ms).toFixed(3)} ms | ${cpus} | ${usPerRequest} | ${pacedUs} | ${rss} | ${parts((s) => s.idle)} | ${parts((s) => s.loaded)} | ${errors} |`);
  }
  const ratio = (a: string, b: string, f: (s: Sample) => number) => median(by(a).map((s, i) => f(s) / f(by(b)[i] ?? s)));
  const ran = (name: string) => by(name).length > 0;
  const rps = (s: Sample) => s.sat.requestsPerSec;
  const usPerRequest = (s: Sample) => s.cpuPctOfCore.reduce((a, b) => a + b, 0) / 100 / s.sat.requestsPerSec * 1e6;
  for (const skein of [SKEIN, SKEIN_BUN].filter(ran)) {
    console.log(`\n${skein}, ratios (median of per-round ratios):`);
    if (ran('haproxy (1 hop)')) console.log(`- req/s ÷ haproxy req/s: ${ratio(skein, 'haproxy (1 hop)', rps).toFixed(2)} (goal ≥ 0.40)`);
    if (ran('nginx (1 hop)')) console.log(`- req/s ÷ nginx req/s: ${ratio(skein, 'nginx (1 hop)', rps).toFixed(2)}`);
    if (ran(NAIVE)) {
      console.log(`- req/s ÷ naive Node 2-hop req/s: ${ratio(skein, NAIVE, rps).toFixed(2)}`);
      console.log(`- CPU µs/request ÷ naive Node 2-hop (both hops): ${ratio(skein, NAIVE, usPerRequest).toFixed(2)}`);
    }
    if (ran('direct')) {
      console.log(`- req/s ÷ direct req/s: ${ratio(skein, 'direct', rps).toFixed(2)}`);
      const added = median(by(skein).map((s, i) => s.paced.p99Ms - (by('direct')[i]?.paced.p99Ms ?? 0)));
      console.log(`- p99 added at ~1,000 req/s (paced p99 − direct paced p99): ${added.toFixed(3)} ms (goal < 1 ms)`);
    }
    const peak = by(skein)[0]?.peakRssMiB.map((_, i) => Math.max(...by(skein).map((s) => s.peakRssMiB[i] ?? 0)).toFixed(1)) ?? [];
    const idle = by(skein)[0]?.idle.map((_, i) => median(by(skein).map((s) => (s.idle[i]?.anonMiB ?? 0) + (s.idle[i]?.fileMiB ?? 0))).toFixed(1)) ?? [];
    console.log(`- peak RSS (VmHWM): ${peak.join(' MiB (outbound), ')} MiB (inbound) (goal < 64 MiB); idle: ${idle.join(' MiB (outbound), ')} MiB (inbound) (goal < 40 MiB)`);
  }
}

await main();
