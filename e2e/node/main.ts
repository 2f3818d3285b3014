// The local node: `main.ts run --dir=<cluster dir>` plays kubelet for every
// Node in NODES and runs kube-proxy for the host they share;
// `main.ts cleanup --dir=<cluster dir>` removes whatever a crashed run left.
import http from 'node:http';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, mkdirSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { NETWORK, NODES, paths, kubeProxyCommand, type Layout, type Ports } from '../cluster/components.ts';
import { NodeAgent } from './node-agent.ts';
import { relayApiServer } from '../cluster/relay.ts';
import { setupHost, cleanupAll } from './network.ts';
import { KubeConfig } from '@kubernetes/client-node';
import { DnsServer, upstreamsOf } from './dns-server.ts';
import { CatalogWatch } from './dns-catalog.ts';
import { resolve } from './dns.ts';
import { claimHost, holderOfHostLock, releaseHost } from '../cluster/host-lock.ts';

const execFileP = promisify(execFile);
const log = (msg: string) => process.stderr.write(`${new Date().toISOString()} local-node: ${msg}\n`);

function layoutOf(dir: string): Layout {
  const state = JSON.parse(readFileSync(paths(dir).state, 'utf8')) as { ports: Ports; binDir: string };
  return { dir, binDir: state.binDir, ports: state.ports };
}

/** kube-proxy's own rule removal, then ours: no namespace, veth, route or iptables rule is left. */
export async function cleanup(layout: Layout): Promise<void> {
  const proxy = kubeProxyCommand(layout);
  await execFileP(proxy.bin, ['--cleanup', '--v=0']).catch((err: unknown) => log(`kube-proxy --cleanup: ${String(err)}`));
  await cleanupAll();
}

/**
 * Cluster DNS on the pods' host address, port 53, as CoreDNS is for a real
 * cluster. It reads Services and EndpointSlices with kube-proxy's credentials,
 * which may list and watch exactly those.
 */
async function startClusterDns(layout: Layout): Promise<{ stop: () => Promise<void> }> {
  const kc = new KubeConfig();
  kc.loadFromFile(paths(layout.dir).kubeProxyKubeconfig);
  const catalog = new CatalogWatch(kc, (what, err) => log(`dns: ${what} watch: ${err instanceof Error ? err.message : String(err)}`));
  const server = new DnsServer({
    host: NETWORK.hostIp,
    port: 53,
    resolve: (q) => resolve(q, NETWORK.clusterDomain, catalog.current()),
    upstreams: upstreamsOf(readFileSync('/etc/resolv.conf', 'utf8'), NETWORK.hostIp),
    log,
  });
  catalog.start();
  await server.start();
  return { stop: async () => { catalog.stop(); await server.stop(); } };
}

function startKubeProxy(layout: Layout): ChildProcess {
  const cmd = kubeProxyCommand(layout);
  const logFile = join(paths(layout.dir).logs, 'kube-proxy.log');
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(cmd.bin, cmd.args, { stdio: ['ignore', fd, fd] });
    child.on('exit', (code, signal) => { if (!stopping) log(`kube-proxy exited (${code ?? signal ?? ''}); see ${logFile}`); });
    return child;
  } finally {
    closeSync(fd);
  }
}

let stopping = false;

async function run(dir: string): Promise<void> {
  const layout = layoutOf(dir);
  const p = paths(dir);
  claimHost(dir);
  await cleanup(layout);
  await setupHost();
  const relay = await relayApiServer(layout.ports.apiserver);
  let kubeProxy = startKubeProxy(layout);
  // SIGHUP restarts kube-proxy: cluster.ts sends it after restarting kube-apiserver, whose
  // cold RBAC cache made kube-proxy's watches fail and back off for a minute.
  process.on('SIGHUP', () => {
    if (stopping) return;
    log('SIGHUP: restarting kube-proxy');
    const old = kubeProxy;
    old.once('exit', () => { if (!stopping) kubeProxy = startKubeProxy(layout); });
    old.kill('SIGTERM');
  });
  const dns = await startClusterDns(layout);
  const pki = (f: string) => readFileSync(join(p.pki, f), 'utf8');
  const agents = NODES.map((n) => new NodeAgent({
    name: n.name,
    kubeletPort: n.kubeletPort,
    kubeletTls: { cert: pki(`${n.name}-serving.crt`), key: pki(`${n.name}-serving.key`), ca: pki('ca.crt') },
    kubeconfigPath: p.nodeKubeconfig(n.name),
    podCidr: n.podCidr,
    hostIP: NETWORK.hostIp,
    stateDir: join(p.nodeState, n.name),
    kubeletVersion: 'v1.35.4',
    log,
  }));
  mkdirSync(p.nodeState, { recursive: true });
  let ready = false;
  const health = http.createServer((_req, res) => { res.writeHead(ready ? 200 : 503).end(ready ? 'ok' : 'starting'); });
  health.listen(layout.ports.localNode, '127.0.0.1');

  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ready = false;
    log(`${signal}: stopping pods, kube-proxy and the pod network`);
    await Promise.all(agents.map((a) => a.stop()));
    const proxyExited = new Promise((res) => { if (kubeProxy.exitCode !== null) res(null); else kubeProxy.once('exit', res); });
    kubeProxy.kill('SIGTERM');
    await proxyExited;
    relay.close();
    await dns.stop();
    health.close();
    await cleanup(layout);
    releaseHost();
    log('stopped; nothing left behind');
    process.exit(0);
  };
  process.on('SIGTERM', () => { void shutdown('SIGTERM'); });
  process.on('SIGINT', () => { void shutdown('SIGINT'); });

  await Promise.all(agents.map((a) => a.start()));
  ready = true;
  log(`serving ${NODES.map((n) => n.name).join(', ')}`);
}

async function main(argv: string[]): Promise<void> {
  const [verb, ...rest] = argv;
  const dir = rest.find((a) => a.startsWith('--dir='))?.slice('--dir='.length);
  if (!dir || (verb !== 'run' && verb !== 'cleanup')) {
    console.error('usage: main.ts run|cleanup --dir=<cluster dir>');
    process.exit(2);
  }
  if (process.getuid?.() !== 0) throw new Error('the local node must run as root: it creates network namespaces and iptables rules');
  if (verb === 'cleanup') {
    // Never tear down the network of a node that serves another cluster.
    const holder = holderOfHostLock();
    if (holder && holder.dir !== dir) {
      log(`nothing to clean up for ${dir}: the host's pod network belongs to the running local node of ${holder.dir}`);
      return;
    }
    await cleanup(layoutOf(dir));
  }
  else await run(dir);
}

main(process.argv.slice(2)).catch((err: unknown) => {
  log(err instanceof Error ? err.stack ?? err.message : String(err));
  process.exit(1);
});
