// The standalone executable as a user gets it from the krew archive: built
// (esbuild, Node's SEA blob, postject), unpacked, and run with no Node on
// PATH; its plugin.yaml carries the archive's sha256.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { findKubectl, systemLookup } from '../kubectl.ts';
import { CLI_VERSION } from '../version.ts';
import { buildExecutable } from './build.ts';
import { archiveName, krewManifest, platform, sha256File } from './krew.ts';

const run = promisify(execFile);

test('krew names: Go\'s os/arch, and a manifest refuses what is not a sha256', () => {
  assert.deepEqual(platform('linux', 'x64'), { os: 'linux', arch: 'amd64' });
  assert.equal(archiveName({ os: 'darwin', arch: 'arm64' }), 'kubectl-skein_darwin_arm64.tar.gz');
  assert.throws(() => platform('win32', 'x64'), /no standalone build for win32\/x64/);
  assert.throws(() => krewManifest('v1', 'abc'), /not a sha256/);
});

test('the single executable runs version, --help, inject and install with no Node on PATH; plugin.yaml has the archive\'s sha256', { timeout: 300_000 }, async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'skein-sea-'));
  t.after(() => rm(out, { recursive: true, force: true }));
  const built = await buildExecutable(join(out, 'build'));

  // The archive as krew unpacks it: the executable and LICENSE at its top level.
  const unpacked = join(out, 'unpacked');
  await mkdir(unpacked);
  await run('tar', ['-xzf', built.archive, '-C', unpacked]);
  assert.deepEqual((await run('tar', ['-tzf', built.archive])).stdout.split('\n').filter(Boolean).sort(), ['LICENSE', 'kubectl-skein']);
  const manifest = parse(await readFile(built.manifest, 'utf8')) as { kind: string; spec: { version: string; platforms: { sha256: string; bin: string; uri: string }[] } };
  assert.equal(manifest.kind, 'Plugin');
  assert.equal(manifest.spec.version, CLI_VERSION);
  assert.equal(manifest.spec.platforms[0]?.sha256, await sha256File(built.archive));
  assert.match(manifest.spec.platforms[0]?.uri ?? '', new RegExp(`/${CLI_VERSION}/${archiveName()}$`));

  // PATH is an empty folder: no node (nor anything else) to fall back on.
  const exe = join(unpacked, 'kubectl-skein');
  const env = { PATH: join(out, 'empty-bin'), HOME: out };
  await mkdir(env.PATH);
  const skein = (args: string[], input?: string, extra: Record<string, string> = {}) => {
    const child = run(exe, args, { env: { ...env, ...extra }, cwd: out, maxBuffer: 16 * 1024 * 1024 });
    if (input !== undefined) child.child.stdin?.end(input);
    return child;
  };
  assert.equal((await skein(['version'])).stdout, `kubectl-skein ${CLI_VERSION}\n`);
  assert.match((await skein(['--help'])).stdout, /^kubectl skein: install, check and inject the Skein service mesh\n/);
  assert.match((await skein(['check', '--help'])).stdout, /--proxy/);
  const injected = await skein(['inject', '-f', '-'], 'kind: Pod\nmetadata:\n  name: a\n');
  assert.equal(injected.stdout, 'kind: Pod\nmetadata:\n  annotations:\n    skein.dev/inject: enabled\n  name: a\n');
  const failed = await skein(['check']).then(() => undefined, (err: unknown) => err as { code: number; stderr: string });
  assert.match(failed?.stderr ?? '', /^kubectl skein: no_kubeconfig: /, 'a message, not a stack trace');
  assert.equal((await run('ls', [tmpdir()])).stdout.split('\n').filter((f) => f.startsWith('kubectl-skein-')).length, 0, 'the unpacked assets are removed on exit');

  // install renders the CRDs and manifests/ the executable carries, through kubectl kustomize.
  let kubectl: string | undefined;
  try { kubectl = findKubectl(systemLookup()); } catch { t.diagnostic('no kubectl found: install rendering not exercised'); return; }
  const stream = (await skein(['install'], undefined, { SKEIN_KUBECTL: kubectl })).stdout;
  assert.match(stream, /^ {2}name: serviceprofiles\.skein\.dev$/m);
  assert.match(stream, /^kind: Deployment\nmetadata:\n(?: {2}.*\n)*? {2}name: skein-webhook$/m);
  assert.match(stream, /^ {2}name: skein-issuer$/m);
});
