// `cluster up | down | status | run -- <command>`: a real local control plane
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler) on loopback.
// `up` converges: whatever is missing is started, whatever runs is kept.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile, rm, rename, readFile } from 'node:fs/promises';
import { join, resolve, relative } from 'node:path';
import { COMPONENTS, CONTROL_PLANE, NODE_COMPONENT, PORT_NAMES, commandFor, healthUrl, paths, portsOf, type ComponentName, type Layout, type Ports } from './components.ts';
import { ensurePki, adminTls } from './pki.ts';
import { isAlive, cmdlineOf, processesMentioning, startDetached, stopAll, isListening, freePort, probe, waitFor } from './procs.ts';

const REPO_ROOT = resolve(import.meta.dirname, '../..');
const START_TIMEOUT_MS = 90_000;
/** Real nodes build and load every image into three containerds, then wait for CoreDNS. */
const REAL_NODES_START_TIMEOUT_MS = 300_000;

export function clusterDir(): string {
  return resolve(process.env.SKEIN_CLUSTER_DIR ?? join(REPO_ROOT, '.cache', 'cluster'));
}

interface State {
  ports: Ports;
  binDir: string;
  /** What `up` was asked to run, so `status` judges the cluster by it. */
  components: ComponentName[];
}

const say = (msg: string) => process.stderr.write(`cluster: ${msg}\n`);

function buildBinaries(): string {
  const out = execFileSync(join(import.meta.dirname, 'build-binaries.sh'), { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const dir = out.trim().split('\n').pop();
  if (!dir) throw new Error('build-binaries.sh printed no binary directory');
  return dir;
}

async function loadState(dir: string): Promise<State | undefined> {
  const file = paths(dir).state;
  return existsSync(file) ? JSON.parse(await readFile(file, 'utf8')) as State : undefined;
}

/** Keeps the ports a cluster already has and gives free ones to any it lacks. */
async function allocatePorts(have: Partial<Ports> = {}): Promise<Ports> {
  const taken = new Set<number>(Object.values(have));
  const ports: Partial<Ports> = { ...have };
  for (const name of PORT_NAMES) {
    while (ports[name] === undefined) {
      const p = await freePort();
      if (!taken.has(p)) { taken.add(p); ports[name] = p; }
    }
  }
  return ports as Ports;
}

function pidFile(dir: string, name: ComponentName): string {
  return join(paths(dir).run, `${name}.pid`);
}

/** The pid recorded for a component, if that process is alive and is really ours. */
function runningPid(dir: string, name: ComponentName): number | undefined {
  const file = pidFile(dir, name);
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return isAlive(pid) && cmdlineOf(pid).includes(dir) ? pid : undefined;
}

async function isHealthy(name: ComponentName, layout: Layout): Promise<boolean> {
  const creds = name === 'kube-apiserver' ? await adminTls(layout) : undefined;
  const { status, body } = await probe(healthUrl(name, layout.ports), creds);
  return status === 200 && (name !== 'etcd' || body.includes('"health":"true"'));
}

function logTail(file: string, lines = 15): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

async function startComponent(name: ComponentName, layout: Layout): Promise<void> {
  const p = paths(layout.dir);
  const cmd = commandFor(name, layout);
  const log = join(p.logs, `${name}.log`);
  const pid = startDetached(cmd.bin, cmd.args, log, { ...process.env, NO_PROXY: '127.0.0.1,localhost' });
  await writeFile(pidFile(layout.dir, name), `${pid}\n`);
  await waitFor(`${name} to become healthy`, async () => {
    if (!isAlive(pid)) throw new Error(`${name} exited during start-up; last lines of ${log}:\n${logTail(log)}`);
    return isHealthy(name, layout);
  }, name === 'real-nodes' ? REAL_NODES_START_TIMEOUT_MS : START_TIMEOUT_MS, () => `last lines of ${log}:\n${logTail(log)}`);
}

/** A cluster is usable once its controllers act: the default ServiceAccount exists. */
async function waitUsable(layout: Layout): Promise<void> {
  const creds = await adminTls(layout);
  const url = `https://127.0.0.1:${layout.ports.apiserver}/api/v1/namespaces/default/serviceaccounts/default`;
  await waitFor('the default ServiceAccount (kube-controller-manager at work)', async () => (await probe(url, creds)).status === 200, START_TIMEOUT_MS);
}

/** Control-plane components that hold watches on the API server. */
const API_CLIENTS: readonly ComponentName[] = ['kube-controller-manager', 'kube-scheduler'];

export async function up(opts: { controlPlaneOnly?: boolean } = {}): Promise<string> {
  const t0 = Date.now();
  const dir = clusterDir();
  const p = paths(dir);
  const binDir = buildBinaries();
  await Promise.all([p.run, p.logs].map((d) => mkdir(d, { recursive: true })));
  const previous = await loadState(dir);
  const components = opts.controlPlaneOnly ? [...CONTROL_PLANE] : [...COMPONENTS];
  const state: State = { ports: await allocatePorts(previous?.ports), binDir, components };
  await writeFile(p.state, JSON.stringify(state, null, 2) + '\n');
  const layout: Layout = { dir, binDir, ports: state.ports };
  await ensurePki(layout);
  let started = 0;
  const apiserverRestarted = runningPid(dir, 'kube-apiserver') === undefined && API_CLIENTS.some((n) => runningPid(dir, n) !== undefined);
  for (const name of components) {
    if (runningPid(dir, name) !== undefined) continue;
    say(`starting ${name}`);
    await startComponent(name, layout);
    started++;
  }
  // A real control plane's clients reach a restarted API server through a load
  // balancer that waits for /readyz. Ours connect straight to the port, meet it
  // while its RBAC cache is still cold, get 403s and back off for over a minute
  // (measured: a scale took 80 s to act on, a new Service 60 s to be routed).
  // Restarting them once it is ready is what the load balancer gives them.
  if (apiserverRestarted) {
    for (const name of API_CLIENTS) {
      const pid = runningPid(dir, name);
      if (pid === undefined) continue;
      say(`restarting ${name} now that kube-apiserver is ready`);
      await stopAll([pid], 10_000);
      await startComponent(name, layout);
    }
    // kube-proxy is the node's child; it keeps its iptables rules across the restart.
    const node = runningPid(dir, NODE_COMPONENT);
    if (node !== undefined) { say(`asking ${NODE_COMPONENT} to restart kube-proxy`); process.kill(node, 'SIGHUP'); }
  }
  await waitUsable(layout);
  say(started === 0 ? 'already up' : `up in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  return p.adminKubeconfig;
}

/** Stops one component; a node gets time to stop its pods and remove its network. */
export async function stop(name: ComponentName): Promise<void> {
  const dir = clusterDir();
  const pid = runningPid(dir, name);
  const isNode = name === NODE_COMPONENT;
  if (pid !== undefined) await stopAll([pid], isNode ? 60_000 : 10_000);
  if (isNode) await cleanupNode(dir, name);
  say(pid === undefined ? `${name} was not running` : `stopped ${name}`);
}

/** Whatever a killed node program left (daemons, containers, mounts, cgroups, bridges, iptables chains), then a check that nothing is. */
async function cleanupNode(dir: string, name: ComponentName): Promise<void> {
  const state = await loadState(dir);
  if (!state) return;
  const main = commandFor(name, { dir, binDir: state.binDir, ports: state.ports });
  execFileSync(main.bin, [main.args[0] ?? '', 'cleanup', `--dir=${dir}`], { stdio: 'inherit' });
  try {
    execFileSync(main.bin, [main.args[0] ?? '', 'check', `--dir=${dir}`], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  } catch (err) {
    throw new Error(`real nodes left behind: ${String((err as { stdout?: string }).stdout ?? '').trim().split('\n').join('; ')}`, { cause: err });
  }
}

export async function down(): Promise<void> {
  const dir = clusterDir();
  if (!existsSync(dir)) { say('not running'); return; }
  const state = await loadState(dir);
  const hadNode = runningPid(dir, NODE_COMPONENT) !== undefined || existsSync(join(dir, 'nodes'));
  if (hadNode) await stop(NODE_COMPONENT);
  const recorded = [...CONTROL_PLANE].reverse().map((n) => runningPid(dir, n)).filter((x): x is number => x !== undefined);
  // Also whatever a crashed earlier run left without a pid file.
  const pids = [...new Set([...recorded, ...processesMentioning(dir)])];
  await stopAll(pids);
  const leftovers = processesMentioning(dir);
  if (leftovers.length > 0) throw new Error(`processes still running after SIGKILL: ${leftovers.join(', ')}`);
  if (state) {
    for (const port of portsOf(state.ports)) {
      if (isListening(port)) throw new Error(`port ${port} is still open after stopping the cluster`);
    }
  }
  // Keep the last run's logs for post-mortems; everything else goes.
  const lastLogs = `${dir}-last-logs`;
  await rm(lastLogs, { recursive: true, force: true });
  if (existsSync(paths(dir).logs)) await rename(paths(dir).logs, lastLogs);
  await rm(dir, { recursive: true, force: true });
  say(`stopped ${pids.length + (hadNode ? 1 : 0)} process(es); logs of this run are in ${relative(process.cwd(), lastLogs) || lastLogs}`);
}

export async function status(): Promise<boolean> {
  const dir = clusterDir();
  const state = await loadState(dir);
  if (!state) { console.log('cluster: not running (none created here, or brought down); `make cluster-up` starts one'); return false; }
  const layout: Layout = { dir, binDir: state.binDir, ports: state.ports };
  let ok = true;
  for (const name of state.components) {
    const pid = runningPid(dir, name);
    const healthy = pid !== undefined && await isHealthy(name, layout);
    ok &&= healthy;
    console.log(`${name.padEnd(24)} ${pid === undefined ? 'stopped' : `pid ${pid}`.padEnd(12)} ${healthy ? 'healthy' : 'NOT healthy'}`);
  }
  console.log(`kubeconfig               ${paths(dir).adminKubeconfig}`);
  console.log(`kubectl                  ${join(state.binDir, 'kubectl')}`);
  return ok;
}

/** Runs a command against a cluster, bringing one up for it and down after if none was running. */
async function run(argv: readonly string[]): Promise<number> {
  const [cmd, ...args] = argv;
  if (!cmd) throw new Error('usage: cluster run -- <command> [args...]');
  const wasUp = COMPONENTS.every((n) => runningPid(clusterDir(), n) !== undefined);
  const kubeconfig = await up();
  const state = await loadState(clusterDir());
  const env = { ...process.env, KUBECONFIG: kubeconfig, SKEIN_K8S_BIN: state?.binDir ?? '' };
  const code = await new Promise<number>((res) => {
    spawn(cmd, args, { stdio: 'inherit', env }).on('exit', (c, sig) => res(c ?? (sig ? 128 : 1)));
  });
  if (!wasUp) await down();
  return code;
}

async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  switch (verb) {
    case 'up': console.log(await up({ controlPlaneOnly: rest.includes('--control-plane-only') })); return 0;
    case 'down': await down(); return 0;
    case 'stop': {
      const name = rest[0] as ComponentName | undefined;
      if (!name || !COMPONENTS.includes(name)) throw new Error(`usage: cluster.ts stop <${COMPONENTS.join('|')}>`);
      await stop(name);
      return 0;
    }
    case 'status': return (await status()) ? 0 : 3;
    case 'run': return run(rest[0] === '--' ? rest.slice(1) : rest);
    default:
      console.error('usage: cluster.ts up [--control-plane-only] | down | stop <component> | status | run -- <command>');
      return 2;
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    console.error(`cluster: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
