// cli/bin/kubectl-skein picks its Node: after `make demo` on a machine whose
// system Node is older than 24, the plugin runs on the Node 24 the setup put
// in the checkout's .tools/. A fake checkout keeps the test hermetic: the
// "system" node answers 20, the .tools one is this test's own Node behind a
// wrapper that reports the version scripts/node.sh pins.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const run = promisify(execFile);
const REPO = join(import.meta.dirname, '..');

function script(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

/** A checkout with the real launcher and node.sh, a main.ts that says which Node ran it, and a system `node` 20 on PATH. */
function fakeCheckout(t: TestContext, withTools: boolean): { bin: string; path: string } {
  const root = mkdtempSync(join(tmpdir(), 'skein-plugin-node-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  for (const dir of ['cli/bin', 'scripts', 'system-bin']) mkdirSync(join(root, dir), { recursive: true });
  copyFileSync(join(REPO, 'cli/bin/kubectl-skein'), join(root, 'cli/bin/kubectl-skein'));
  copyFileSync(join(REPO, 'scripts/node.sh'), join(root, 'scripts/node.sh'));
  chmodSync(join(root, 'cli/bin/kubectl-skein'), 0o755);
  chmodSync(join(root, 'scripts/node.sh'), 0o755);
  writeFileSync(join(root, 'cli/main.ts'), 'console.log(`main.ts ran on ${process.versions.node.split(".")[0]}: ${process.argv.slice(2).join(" ")}`);\n');
  script(join(root, 'system-bin/node'), 'case "$1" in -p) echo 20;; --version) echo v20.19.0;; *) echo "node 20 must not run main.ts" >&2; exit 9;; esac');
  // The PATH holds only the tools the launchers use: no npm, so a missing .tools/ Node fails with node.sh's own message and nothing is installed.
  for (const tool of ['env', 'bash', 'sh', 'dirname', 'readlink', 'mkdir']) {
    const at = ['/usr/bin', '/bin'].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (at) symlinkSync(at, join(root, 'system-bin', tool));
  }
  if (withTools) {
    const pinned = /^pinned=(\S+)$/m.exec(readFileSync(join(REPO, 'scripts/node.sh'), 'utf8'))?.[1] ?? '';
    const toolsBin = join(root, '.tools/node/node_modules/node/bin');
    mkdirSync(toolsBin, { recursive: true });
    script(join(toolsBin, 'node'), `[ "$1" = --version ] && { echo v${pinned}; exit 0; }\nexec "${process.execPath}" "$@"`);
  }
  return { bin: join(root, 'cli/bin/kubectl-skein'), path: join(root, 'system-bin') };
}

test('with an older system Node, kubectl-skein runs on the Node 24 that the setup put in .tools/', async (t) => {
  const c = fakeCheckout(t, true);
  const { stdout } = await run(c.bin, ['version'], { env: { PATH: c.path, HOME: tmpdir() } });
  assert.equal(stdout.trim(), `main.ts ran on ${process.versions.node.split('.')[0]}: version`);
});

test('with an older system Node and no Node 24 in .tools/ nor npm, it fails and says what it needs', async (t) => {
  const c = fakeCheckout(t, false);
  await assert.rejects(run(c.bin, ['version'], { env: { PATH: c.path, HOME: tmpdir() } }), (err: { code?: number; stderr?: string }) =>
    err.code !== 0 && /need npm \(any version\) to fetch Node/.test(err.stderr ?? ''));
});
