// The CLI's version is the repository's: the images it installs and the
// proxies `check` compares against carry the same tag (v<package version>).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const REPO_ROOT = join(import.meta.dirname, '..');

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };

export const CLI_VERSION = `v${pkg.version}`;
