// `npm install -g` of the packed plugin, as a user gets it: `npm pack`
// (whose prepack compiles dist/), then a global install of the tarball into
// a temporary prefix (from the npm cache `npm ci` filled where it can), and the
// installed kubectl-skein run from that prefix's bin/. No cluster needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { findKubectl, systemLookup } from './kubectl.ts';
import { REPO_ROOT } from './version.ts';

const run = promisify(execFile);
// The wrapper needs Node >= 24 first on PATH, and so does npm.
const env = { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };

interface PackResult { filename: string; files: { path: string }[] }

function kubectlOrUndefined(): string | undefined {
  try { return findKubectl(systemLookup()); } catch { return undefined; }
}

test('the packed package installs with npm install -g and runs from the prefix\'s bin', { timeout: 120_000 }, async (t) => {
  const tmp = await mkdtemp(join(tmpdir(), 'skein-pack-'));
  t.after(() => rm(tmp, { recursive: true, force: true }));

  const packed = await run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: REPO_ROOT, env, maxBuffer: 16 * 1024 * 1024 });
  const [pack] = JSON.parse(packed.stdout) as PackResult[];
  assert.ok(pack, packed.stderr);
  const files = pack.files.map((f) => f.path);
  for (const f of ['dist/cli/main.js', 'cli/bin/kubectl-skein', 'cli/bin/kubectl_complete-skein', 'crds/Kustomization', 'manifests/base/kustomization.yaml', 'package.json']) {
    assert.ok(files.includes(f), `${f} is in the tarball`);
  }
  assert.ok(files.some((f) => /^crds\/[^/]+\.yaml$/.test(f)), 'the CRDs are in the tarball');
  assert.deepEqual(files.filter((f) => f.endsWith('.ts')), [], 'no TypeScript: Node will not run it from node_modules');

  const prefix = join(tmp, 'prefix');
  // --prefer-offline, not --offline: `npm ci` caches the locked tarballs but not the
  // packuments a range install resolves against, so on a fresh machine (CI) --offline
  // fails with ENOTCACHED; a user's `npm install -g` reaches the registry too.
  await run('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(tmp, pack.filename)], { env, maxBuffer: 16 * 1024 * 1024 });
  const plugin = (name: string, args: string[], input?: string) => {
    const child = run(join(prefix, 'bin', name), args, { env, cwd: tmp });
    if (input !== undefined) child.child.stdin?.end(input);
    return child;
  };

  const { version } = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const [shown, help, completed, injected] = await Promise.all([
    plugin('kubectl-skein', ['version']), plugin('kubectl-skein', ['install', '--help']), plugin('kubectl_complete-skein', ['ins']),
    plugin('kubectl-skein', ['inject', '-f', '-'], 'kind: Pod\nmetadata:\n  name: a\n'),
  ]);
  assert.equal(shown.stdout, `kubectl-skein v${version}\n`);
  assert.match(help.stdout, /^Usage: kubectl skein install \[--overlay base\|ha\|cert-manager\]/);
  assert.match(completed.stdout, /^install\n/m);
  assert.equal(injected.stdout, 'kind: Pod\nmetadata:\n  annotations:\n    skein.dev/inject: enabled\n  name: a\n');
  assert.equal(injected.stderr, 'Pod/a: annotated\n');

  // install renders the CRDs and manifests/ shipped in the package, through kubectl kustomize.
  const kubectl = kubectlOrUndefined();
  if (!kubectl) { t.diagnostic('no kubectl on PATH or in ~/.cache/skein/k8s: install rendering not exercised'); return; }
  const stream = (await run(join(prefix, 'bin', 'kubectl-skein'), ['install'], { env: { ...env, SKEIN_KUBECTL: kubectl }, maxBuffer: 16 * 1024 * 1024 })).stdout;
  assert.match(stream, /^kind: CustomResourceDefinition$/m);
  assert.match(stream, /^ {2}name: serviceprofiles\.skein\.dev$/m);
  assert.match(stream, /^kind: Deployment\nmetadata:\n(?: {2}.*\n)*? {2}name: skein-webhook$/m);
  assert.match(stream, /^ {2}name: skein-issuer$/m);
});
