// `make conformance`: the Gateway API project's own conformance suite (the Go
// module sigs.k8s.io/gateway-api/conformance, built by
// scripts/gateway-conformance.sh) run against Skein on the local cluster's
// real nodes, with the mesh profiles and the namespaces annotated for
// injection. Writes the suite's report and log to .cache/conformance/ and
// prints a line per profile with the failed tests.
//   node e2e/conformance/run.ts build            the suite and the echo image (no cluster)
//   node e2e/conformance/run.ts run [--tests A,B] [--timeout 60m] [--out DIR]   (inside `cluster.ts run --`)
import { execFile, execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { buildImages } from '../../images/build.ts';
import { DEFAULT_SOURCE } from '../../shared/images.ts';
import { clusterDir } from '../cluster/cluster.ts';
import { paths } from '../cluster/components.ts';
import { nodeDirs, REAL_NODES } from '../nodes/config.ts';
import { ConformanceError, formatSummary, missingProfiles, PROFILES, suiteArgs, summarizeReport, type Implementation, type ReportSummary } from './suite.ts';

const exec = promisify(execFile);
const REPO = join(import.meta.dirname, '..', '..');
export const OUT_DIR = join(REPO, '.cache', 'conformance');
const ECHO_IMAGE = 'gateway-api/conformance/echo-advanced';
const say = (msg: string) => process.stderr.write(`conformance: ${msg}\n`);
const secs = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(0)}s`;

const IMPLEMENTATION: Implementation = {
  organization: 'skein-dev',
  project: 'skein',
  url: 'https://github.com/skein-dev/skein',
  version: `v${(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version}`,
  contact: ['https://github.com/skein-dev/skein/issues'],
};

/** The last line a build script prints: the path of what it built (or found in its cache). */
function script(path: string): string {
  try {
    const out = execFileSync(join(REPO, path), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop();
    if (!out) throw new Error('printed nothing');
    return out;
  } catch (err) {
    throw new ConformanceError('build_failed', `${path} failed (${(err as Error).message.split('\n')[0] ?? ''}); its lines above say why`);
  }
}

export interface Built { suite: string; echoArchive: string; echoRef: string }

/** The suite binary and the echo-advanced archive, each from its cache when its inputs are unchanged. */
export async function build(): Promise<Built> {
  const t0 = Date.now();
  const suite = script('scripts/gateway-conformance.sh');
  const istioEchoDir = script('scripts/istio-echo.sh');
  const [image] = await buildImages([ECHO_IMAGE], DEFAULT_SOURCE, join(OUT_DIR, 'images'), { istioEchoDir });
  if (!image) throw new ConformanceError('build_failed', `images/build.ts built no ${ECHO_IMAGE}`);
  say(`suite ${suite} and image ${image.ref} (${image.digest.slice(0, 19)}) ready in ${secs(t0)}`);
  return { suite, echoArchive: image.archive, echoRef: image.ref };
}

/** The cluster this process was started in (by `cluster.ts run`): the suite's image is loaded into its nodes. */
function realNodesCluster(): string {
  const dir = clusterDir();
  if (!process.env.KUBECONFIG || !existsSync(paths(dir).state)) throw new ConformanceError('no_cluster', 'no local cluster: run through `make conformance` (or `node e2e/cluster/cluster.ts run -- node e2e/conformance/run.ts run`)');
  return dir;
}

/** Into each node's containerd under the manifests' name, as the nodes load the cluster's own images at start. */
export async function loadOnNodes(dir: string, archive: string): Promise<void> {
  for (const node of REAL_NODES) {
    await exec('ctr', ['-a', nodeDirs(dir, node).socket, '-n', 'k8s.io', 'images', 'import', archive]).catch((err: Error) => {
      throw new ConformanceError('build_failed', `loading ${archive} into ${node.name}'s containerd failed: ${err.message}`);
    });
  }
}

function kubectlPath(): string {
  return join(process.env.SKEIN_K8S_BIN || script('e2e/cluster/build-binaries.sh'), 'kubectl');
}

async function kubectl(args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(kubectlPath(), args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.slice(0, 3).join(' ')}: ${err.trim()}`))));
    child.stdin.end(input ?? '');
  });
}

/** Skein as a user installs it (`kubectl skein install | kubectl apply`), on the test bed's networks. */
async function installSkein(): Promise<void> {
  const t0 = Date.now();
  await kubectl(['delete', 'namespace', 'skein-system', '--ignore-not-found', '--wait=true']);
  const { stdout } = await exec(join(REPO, 'cli/bin/kubectl-skein'), ['install', '--cluster-networks', '198.18.0.0/15'], { env: { ...process.env, SKEIN_KUBECTL: kubectlPath() }, maxBuffer: 64 * 1024 * 1024 });
  await kubectl(['apply', '--server-side', '-f', '-'], stdout);
  for (const d of ['skein-identity', 'skein-controller', 'skein-webhook']) await kubectl(['-n', 'skein-system', 'rollout', 'status', `deployment/${d}`, '--timeout=180s']);
  say(`Skein installed in ${secs(t0)}`);
}

/** The Gateway API standard-channel CRDs of the suite's own version: the copy Skein vendors (crds/gateway-api), else the module's. */
export async function installGatewayCrds(): Promise<void> {
  const vendored = join(REPO, 'crds', 'gateway-api');
  if (existsSync(join(vendored, 'Kustomization'))) {
    await kubectl(['apply', '--server-side', '-k', vendored]);
    say(`Gateway API CRDs from crds/gateway-api (${readFileSync(join(vendored, 'VERSION'), 'utf8').trim()})`);
    return;
  }
  const mod = readFileSync(join(REPO, 'e2e/conformance/gobuild/go.mod'), 'utf8');
  const version = /^(?:require)?\s*sigs\.k8s\.io\/gateway-api\/conformance (\S+)/m.exec(mod)?.[1];
  if (!version) throw new ConformanceError('build_failed', 'e2e/conformance/gobuild/go.mod requires no sigs.k8s.io/gateway-api/conformance');
  const { stdout } = await exec('go', ['mod', 'download', '-json', `sigs.k8s.io/gateway-api@${version}`], { env: { ...process.env, GOTOOLCHAIN: 'go1.27.3' } });
  const dir = (JSON.parse(stdout) as { Dir: string }).Dir;
  await kubectl(['apply', '--server-side', '-f', join(dir, 'config', 'crd', 'standard')]);
  say(`Gateway API CRDs from sigs.k8s.io/gateway-api@${version} config/crd/standard`);
}

export interface RunResult { summary: ReportSummary; exitCode: number; reportPath: string; logPath: string; seconds: number }

/** Runs the suite binary, its output to a log (progress lines to stderr), and reads its report back. */
export interface RunOptions { outDir: string; tests?: readonly string[]; timeout?: string }

export async function runSuite(suite: string, opts: RunOptions): Promise<RunResult> {
  await mkdir(opts.outDir, { recursive: true });
  const reportPath = join(opts.outDir, 'report.yaml');
  const logPath = join(opts.outDir, 'suite.log');
  await writeFile(reportPath, '');
  const args = suiteArgs({ reportPath, implementation: IMPLEMENTATION, timeout: opts.timeout ?? '60m', ...(opts.tests ? { tests: opts.tests } : {}) });
  say(`${suite} ${args.join(' ')}`);
  const t0 = Date.now();
  const log = createWriteStream(logPath);
  const exitCode = await new Promise<number>((resolve) => {
    const child = spawn(suite, args, { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let partial = '';
    const progress = (d: Buffer) => {
      log.write(d);
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop() ?? '';
      // Each test as it starts (go test -v prints the subtests' verdicts only when the whole suite ends); the rest is in the log file.
      for (const l of lines) {
        const started = /^=== RUN {3}TestConformance\/(\w+)$/.exec(l);
        if (started) process.stderr.write(`conformance: ${started[1]} [${secs(t0)}]\n`);
      }
    };
    child.stdout.on('data', progress);
    child.stderr.on('data', (d: Buffer) => log.write(d));
    child.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
  });
  await new Promise((r) => log.end(r));
  const seconds = Math.round((Date.now() - t0) / 1000);
  const text = readFileSync(reportPath, 'utf8');
  if (text.trim() === '') throw new ConformanceError('suite_failed', `the suite (exit ${exitCode}) wrote no report; see ${logPath}`);
  return { summary: summarizeReport(text), exitCode, reportPath, logPath, seconds };
}

/** Everything `make conformance` does once the cluster is up. */
export async function conformance(built: Built, opts: RunOptions): Promise<RunResult> {
  const dir = realNodesCluster();
  await loadOnNodes(dir, built.echoArchive);
  await installSkein();
  await installGatewayCrds();
  return runSuite(built.suite, opts);
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { tests: { type: 'string' }, timeout: { type: 'string', default: '60m' }, out: { type: 'string', default: OUT_DIR } } });
  const verb = positionals[0];
  if (verb === 'build') { await build(); return 0; }
  if (verb !== 'run') { console.error('usage: run.ts build | run [--tests A,B] [--timeout 60m] [--out DIR]'); return 2; }
  const tests = values.tests?.split(',').filter(Boolean);
  const result = await conformance(await build(), { outDir: values.out, timeout: values.timeout, ...(tests ? { tests } : {}) });
  console.log(formatSummary(result.summary));
  console.log(`report: ${result.reportPath}; log: ${result.logPath}; the suite ran ${result.seconds}s and exited ${result.exitCode}`);
  const missing = tests ? [] : missingProfiles(result.summary, PROFILES);
  if (missing.length > 0) throw new ConformanceError('missing_profile', `the report has no ${missing.join(', ')}`);
  const failed = result.summary.profiles.some((p) => p.failed > 0 || p.result === 'failure');
  return result.exitCode !== 0 || failed ? 1 : 0;
}

if (import.meta.main) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (err: unknown) => {
    console.error(`conformance: ${err instanceof ConformanceError ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  });
}
