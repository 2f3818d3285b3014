// The standalone kubectl-skein: one executable that needs no Node on the
// user's machine, built with Node's single-executable-application support
// (Node 24 has `--experimental-sea-config`, not yet `--build-sea`):
//   1. esbuild bundles the CLI (cli/main.ts and all it imports) into one ESM
//      file, and cli/sea/entry.ts, the loader a SEA runs, into a CommonJS one;
//   2. `node --experimental-sea-config` turns the loader, with the bundle,
//      package.json, crds/ and manifests/ as assets, into a preparation blob;
//   3. postject injects the blob into a copy of this Node binary;
//   4. the executable and LICENSE are packed as the krew archive, and
//      plugin.yaml is written with the archive's sha256 (cli/sea/krew.ts).
// `node cli/sea/build.ts [--out DIR]` (default .cache/sea); prints the archive path.
import { execFile } from 'node:child_process';
import { copyFileSync, chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { build } from 'esbuild';
import { REPO_ROOT, CLI_VERSION } from '../version.ts';
import { archiveName, krewManifest, sha256File } from './krew.ts';
import { BUNDLE_ASSET } from './layout.ts';

const run = promisify(execFile);
/** Where the SEA blob goes in the executable, and the fuse Node checks to find it (Node's documentation names both). */
const RESOURCE = 'NODE_SEA_BLOB';
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** The files install renders from, as the npm package ships them (package.json "files"). */
export function packagedAssets(root: string): string[] {
  const walk = (dir: string): string[] => readdirSync(join(root, dir)).flatMap((name) => {
    const path = join(dir, name);
    return statSync(join(root, path)).isDirectory() ? walk(path) : [path];
  });
  return ['package.json', ...walk('crds').filter((f) => f.endsWith('.yaml') || f.endsWith('Kustomization')), ...walk('manifests').filter((f) => f.endsWith('.yaml'))];
}

export interface Built { executable: string; archive: string; sha256: string; manifest: string }

export async function buildExecutable(out: string): Promise<Built> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(join(out, 'package'), { recursive: true });
  const script = join(out, 'loader.cjs');
  const bundle = join(out, 'main.mjs');
  await Promise.all([
    build({ entryPoints: [join(REPO_ROOT, 'cli/sea/entry.ts')], outfile: script, bundle: true, platform: 'node', target: 'node24', format: 'cjs', logLevel: 'error' }),
    // ESM keeps top-level await and import.meta (cli/version.ts finds package.json above the bundle);
    // CommonJS packages inside it get a real require for Node's built-in modules.
    build({
      entryPoints: [join(REPO_ROOT, 'cli/main.ts')], outfile: bundle, bundle: true, platform: 'node', target: 'node24', format: 'esm', logLevel: 'error',
      legalComments: 'none', banner: { js: "import { createRequire as __skeinRequire } from 'node:module'; const require = __skeinRequire(import.meta.url);" },
    }),
  ]);
  const blob = join(out, 'sea-prep.blob');
  const assets = { ...Object.fromEntries(packagedAssets(REPO_ROOT).map((f) => [f, join(REPO_ROOT, f)])), [BUNDLE_ASSET]: bundle };
  const config = join(out, 'sea-config.json');
  writeFileSync(config, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false, assets }, null, 2));
  await run(process.execPath, ['--experimental-sea-config', config], { cwd: out });

  const executable = join(out, 'package', 'kubectl-skein');
  copyFileSync(process.execPath, executable);
  chmodSync(executable, 0o755);
  // postject is CommonJS with no types; its inject(file, resource, data, options) is documented in its README.
  const postject = createRequire(import.meta.url)('postject') as { inject: (file: string, name: string, data: Buffer, o: { sentinelFuse: string }) => Promise<void> };
  await postject.inject(executable, RESOURCE, readFileSync(blob), { sentinelFuse: FUSE });
  copyFileSync(join(REPO_ROOT, 'LICENSE'), join(out, 'package', 'LICENSE'));

  const archive = join(out, archiveName());
  // Files at the archive's top level, owned by nobody in particular: what krew unpacks.
  await run('tar', ['-czf', archive, '--owner=0', '--group=0', '--numeric-owner', '-C', join(out, 'package'), 'kubectl-skein', 'LICENSE']);
  const sha256 = await sha256File(archive);
  const manifest = join(out, 'plugin.yaml');
  writeFileSync(manifest, krewManifest(CLI_VERSION, sha256));
  return { executable, archive, sha256, manifest };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: 'string' } } });
  const built = await buildExecutable(values.out ?? join(REPO_ROOT, '.cache', 'sea'));
  for (const [what, path] of Object.entries(built) as [string, string][]) console.log(`${what}: ${what === 'sha256' ? path : relative(process.cwd(), path)}`);
}
