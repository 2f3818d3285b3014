// The release an upgrade starts from: Skein's images and CLI as an earlier
// commit built them, with that commit's own builder (images/build.ts), from a
// clean export of the commit (`git archive`, never this work tree). Cached
// per commit in ~/.cache/skein/upgrade-base/<sha>: a second run costs a
// rev-parse. The ref is SKEIN_UPGRADE_FROM, else HEAD~1 (the previous commit).
//   node e2e/support/upgrade-base.ts [ref]   prints the JSON of UpgradeBase
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

const REPO = resolve(import.meta.dirname, '../..');

export interface UpgradeBase {
  ref: string;
  commit: string;
  /** The image tag the base was built under: never this checkout's, so both live side by side in containerd. */
  tag: string;
  /** The commit's files; its CLI is `${src}/cli/bin/kubectl-skein`. */
  src: string;
  /** OCI archives of the controller and proxy images. */
  archives: string[];
}

export class UpgradeBaseError extends Error {
  readonly code = 'upgrade_base_failed';
}

const git = (...args: string[]): string => execFileSync('git', ['-C', REPO, ...args], { encoding: 'utf8' }).trim();

export function cacheRoot(): string {
  return process.env.SKEIN_UPGRADE_BASE_DIR ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'skein', 'upgrade-base');
}

/** Builds (or finds) the base release of `ref`. Blocking: minutes the first time for a commit, then nothing. */
export function upgradeBase(ref = process.env.SKEIN_UPGRADE_FROM ?? 'HEAD~1'): UpgradeBase {
  let commit: string;
  try {
    commit = git('rev-parse', '--verify', `${ref}^{commit}`);
  } catch {
    throw new UpgradeBaseError(`SKEIN_UPGRADE_FROM=${ref} is not a commit of this repository; give a ref such as HEAD~1, main or a tag`);
  }
  const dir = join(cacheRoot(), commit);
  const tag = `base-${commit.slice(0, 12)}`;
  const images = join(dir, 'images');
  const archives = ['controller', 'proxy'].map((n) => join(images, `${n}.oci.tar`));
  const base: UpgradeBase = { ref, commit, tag, src: join(dir, 'src'), archives };
  const done = join(dir, 'done.json');
  if (existsSync(done) && archives.every((a) => existsSync(a))) {
    installDeps(base.src);
    return base;
  }

  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  const src = join(partial, 'src');
  mkdirSync(src, { recursive: true });
  execFileSync('bash', ['-o', 'pipefail', '-c', `git -C "${REPO}" archive "${commit}" | tar -x -C "${src}"`]);
  installDeps(src);
  const out = join(partial, 'images');
  try {
    execFileSync('nice', ['-n', '10', process.execPath, join(src, 'images/build.ts'), '--tag', tag, '--out', out, 'controller', 'proxy'], { cwd: src, stdio: ['ignore', 'inherit', 'inherit'] });
  } catch (err) {
    throw new UpgradeBaseError(`building ${ref} (${commit.slice(0, 12)})'s images with its own images/build.ts failed: ${(err as Error).message}`);
  }
  writeFileSync(join(partial, 'done.json'), JSON.stringify({ ref, commit, tag, builtAt: new Date().toISOString() }) + '\n');
  rmSync(dir, { recursive: true, force: true });
  renameSync(partial, dir);
  return base;
}

/**
 * The commit's npm dependencies (its build and its CLI need them): this
 * checkout's when the lock files are the same, the usual case for a
 * neighbouring commit, else installed from its lock file. A link left by a
 * checkout that has since moved is made again.
 */
function installDeps(src: string): void {
  const modules = join(src, 'node_modules');
  if (existsSync(join(modules, '.package-lock.json'))) return;
  rmSync(modules, { recursive: true, force: true });
  const lock = (root: string) => readFileSync(join(root, 'package-lock.json'), 'utf8');
  if (lock(src) === lock(REPO) && existsSync(join(REPO, 'node_modules'))) symlinkSync(join(REPO, 'node_modules'), modules);
  else execFileSync('npm', ['ci', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: src, stdio: ['ignore', 'inherit', 'inherit'] });
}

if (import.meta.main) process.stdout.write(JSON.stringify(upgradeBase(process.argv[2]), null, 2) + '\n');
