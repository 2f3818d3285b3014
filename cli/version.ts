// The CLI's version is the repository's: the images it installs and the
// proxies `check` compares against carry the same tag (v<package version>).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The nearest folder at or above `from` holding package.json: the checkout
 * when cli/*.ts runs as it is, the installed package when its compiled copy
 * runs from dist/cli/. crds/ and manifests/ sit beside package.json in both.
 */
export function packageRoot(from: string, exists: (path: string) => boolean = existsSync): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (exists(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json at or above ${from}: kubectl-skein must run from its package or a checkout`);
  }
}

export const REPO_ROOT = packageRoot(join(import.meta.dirname, '..'));

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

export const CLI_VERSION = `v${pkg.version}`;
