// Real nodes: `main.ts run --dir=<cluster dir>` starts, for each node of
// REAL_NODES, its own containerd and the real kubelet, loads every image
// `images/` builds into each containerd, runs kube-proxy and the API relay for
// the host they share and CoreDNS as a Deployment, and stays until SIGTERM,
// when it removes all of it. `main.ts cleanup --dir=...` removes what a
// crashed run left; `main.ts check --dir=...` lists what is left (exit 1).
import http from 'node:http';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { kubeProxyCommand, paths, type Layout, type Ports } from '../cluster/components.ts';
import { isAlive, processesMentioning, startDetached, stopAll, waitFor } from '../cluster/procs.ts';
import { relayApiServer } from '../cluster/relay.ts';
import { buildImages } from '../../images/build.ts';
import { CLUSTER_IMAGES } from '../../images/catalog.ts';
import { DEFAULT_SOURCE, imageRef } from '../../shared/images.ts';
import { cgroupParent, cniConflist, containerdCommand, containerdConfig, kubeletCommand, kubeletConfig, nodeDirs, REAL_NODES, type RealNode } from './config.ts';
import { corednsObjects } from './coredns.ts';
import { cleanupHost, createCgroups, leftovers, setupHost, teardownHost } from './host.ts';
import { preflight } from './preflight.ts';
import { claimHost, hostHeldByOther, releaseHost } from '../cluster/host-lock.ts';

const exec = promisify(execFile);
const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} real-nodes: ${msg}\n`);

function layoutOf(dir: string): Layout {
  const state = JSON.parse(readFileSync(paths(dir).state, 'utf8')) as { ports: Ports; binDir: string };
  return { dir, binDir: state.binDir, ports: state.ports };
}

const kubectl = (layout: Layout, args: readonly string[], input?: string) => new Promise<string>((resolve, reject) => {
  const child = spawn(join(layout.binDir, 'kubectl'), [`--kubeconfig=${paths(layout.dir).adminKubeconfig}`, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(' ')}: ${err.trim()}`))));
  child.stdin.end(input ?? '');
});

async function startNode(layout: Layout, node: RealNode, archives: readonly string[]): Promise<void> {
  const d = nodeDirs(layout.dir, node);
  for (const dir of [d.cniConf, d.cniIpam, d.kubeletRoot, d.podLogs, d.containerdRoot, d.containerdState]) mkdirSync(dir, { recursive: true });
  writeFileSync(d.containerdConfig, containerdConfig(layout.dir, node, imageRef('e2e/pause', DEFAULT_SOURCE)));
  writeFileSync(join(d.cniConf, '10-skein.conflist'), cniConflist(layout.dir, node));
  writeFileSync(d.kubeletConfig, kubeletConfig(layout, node));
  // Pods resolve through cluster DNS; a pod with dnsPolicy Default gets no resolver at all (nothing outside exists).
  writeFileSync(d.resolvConf, '');
  createCgroups(cgroupParent(node));
  const logs = paths(layout.dir).logs;
  const ctrd = containerdCommand(layout.dir, node);
  const ctrdLog = join(logs, `${node.name}-containerd.log`);
  const ctrdPid = startDetached(ctrd.bin, ctrd.args, ctrdLog);
  await waitFor(`${node.name}'s containerd`, async () => {
    if (!isAlive(ctrdPid)) throw new Error(`containerd of ${node.name} exited; see ${ctrdLog}`);
    return exec('ctr', ['-a', d.socket, 'version']).then(() => true, () => false);
  }, 30_000);
  for (const archive of archives) {
    await exec('ctr', ['-a', d.socket, '-n', 'k8s.io', 'images', 'import', archive]).catch((err: Error) => {
      throw new Error(`loading ${archive} into ${node.name}'s containerd failed: ${err.message}`);
    });
  }
  const kubelet = kubeletCommand(layout, node);
  startDetached(kubelet.bin, kubelet.args, join(logs, `${node.name}-kubelet.log`));
}

function startKubeProxy(layout: Layout): ChildProcess {
  const cmd = kubeProxyCommand(layout);
  const fd = openSync(join(paths(layout.dir).logs, 'kube-proxy.log'), 'a');
  try {
    return spawn(cmd.bin, cmd.args, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
}

async function nodesReady(layout: Layout): Promise<boolean> {
  const out = await kubectl(layout, ['get', 'nodes', '-o', 'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}']).catch(() => '');
  const ready = new Set(out.split('\n').filter((l) => l.endsWith('=True')).map((l) => l.split('=')[0]));
  return REAL_NODES.every((n) => ready.has(n.name));
}

export async function cleanup(layout: Layout): Promise<void> {
  // A kube-proxy a killed run left (it is this process's child, not detached, but outlives a SIGKILL of it).
  await stopAll(processesMentioning(paths(layout.dir).kubeProxyKubeconfig), 5_000);
  await exec(kubeProxyCommand(layout).bin, ['--cleanup', '--v=0']).catch(() => undefined);
  await cleanupHost(layout.dir);
  teardownHost();
}

async function run(dir: string): Promise<void> {
  const layout = layoutOf(dir);
  preflight(layout.binDir);
  claimHost(dir);
  await cleanup(layout);
  setupHost();
  const t0 = Date.now();
  const built = await buildImages(CLUSTER_IMAGES, DEFAULT_SOURCE, join(dir, 'images'), { k8sBinDir: layout.binDir });
  log(`${built.length} images (${built.filter((b) => b.fromCache).length} unchanged, from the cache) in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  const relay = await relayApiServer(layout.ports.apiserver);
  let ready = false;
  let stopping = false;
  const health = http.createServer((_req, res) => { res.writeHead(ready ? 200 : 503).end(ready ? 'ok' : 'starting'); });
  health.listen(layout.ports.localNode, '127.0.0.1');
  const kubeProxy = { child: startKubeProxy(layout) };
  process.on('SIGHUP', () => {
    if (stopping) return;
    log('SIGHUP: restarting kube-proxy');
    kubeProxy.child.once('exit', () => { if (!stopping) kubeProxy.child = startKubeProxy(layout); });
    kubeProxy.child.kill('SIGTERM');
  });
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ready = false;
    log(`${signal}: stopping kubelets, containers, containerd and kube-proxy`);
    const exited = new Promise((res) => { if (kubeProxy.child.exitCode !== null) res(null); else kubeProxy.child.once('exit', res); });
    kubeProxy.child.kill('SIGTERM');
    await exited;
    relay.close();
    health.close();
    await cleanup(layout);
    const left = leftovers(dir);
    if (left.length > 0) log(`left behind: ${left.join('; ')}`);
    releaseHost();
    process.exit(left.length > 0 ? 1 : 0);
  };
  process.on('SIGTERM', () => { void shutdown('SIGTERM'); });
  process.on('SIGINT', () => { void shutdown('SIGINT'); });

  await Promise.all(REAL_NODES.map((n) => startNode(layout, n, built.map((b) => b.archive))));
  log(`containerd and kubelet started on ${REAL_NODES.length} nodes in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  await waitFor('every node Ready', () => nodesReady(layout), 120_000);
  await kubectl(layout, ['apply', '--server-side', '--force-conflicts', '-f', '-'], corednsObjects(imageRef('e2e/coredns', DEFAULT_SOURCE)).map((o) => JSON.stringify(o)).join('\n'));
  await waitFor('CoreDNS Ready', async () => (await kubectl(layout, ['-n', 'kube-system', 'get', 'deploy', 'coredns', '-o', 'jsonpath={.status.readyReplicas}']).catch(() => '')) === '1', 120_000);
  ready = true;
  log(`ready in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${REAL_NODES.map((n) => n.name).join(', ')}`);
}

async function main(argv: string[]): Promise<void> {
  const [verb, ...rest] = argv;
  const dir = rest.find((a) => a.startsWith('--dir='))?.slice('--dir='.length);
  if (!dir || !['run', 'cleanup', 'check'].includes(verb ?? '')) {
    console.error('usage: main.ts run|cleanup|check --dir=<cluster dir>');
    process.exit(2);
  }
  if (process.getuid?.() !== 0) throw new Error('real nodes must run as root: containerd, runc, CNI and the kubelet need it');
  if (verb === 'check') {
    // Bridges, cgroups and chains are host-wide: while another cluster's nodes run they are theirs, not left by this one.
    const left = hostHeldByOther(dir) ? [] : leftovers(dir);
    for (const l of left) console.log(l);
    process.exit(left.length > 0 ? 1 : 0);
  }
  if (verb === 'cleanup') {
    // Never tear down the nodes of another cluster.
    const other = hostHeldByOther(dir);
    if (other) { log(`nothing to clean up for ${dir}: the host's nodes belong to the running cluster of ${other}`); return; }
    if (existsSync(paths(dir).state)) await cleanup(layoutOf(dir));
    else await cleanupHost(dir);
    return;
  }
  await run(dir);
}

main(process.argv.slice(2)).catch(async (err: unknown) => {
  log(err instanceof Error ? err.message : String(err));
  // A failed start leaves nothing running (unless it failed because the host is another cluster's).
  if (process.argv[2] === 'run') {
    const dir = process.argv.find((a) => a.startsWith('--dir='))?.slice('--dir='.length);
    if (dir && !hostHeldByOther(dir)) await cleanup(layoutOf(dir)).catch(() => undefined);
    releaseHost();
  }
  process.exit(1);
});

