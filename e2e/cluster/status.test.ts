// `make cluster-status` on a machine with no cluster running: a clear line and
// exit 0 (the stopped cluster is the answer, not a make error); cluster.ts
// itself still exits 3 for scripts. A directory of its own, so no cluster is
// touched or needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');

test('make cluster-status with no cluster says it is not running, and exits 0; cluster.ts status exits 3', async (t) => {
  const parent = mkdtempSync(join(tmpdir(), 'skein-status-'));
  t.after(() => rmSync(parent, { recursive: true, force: true }));
  const env = { ...process.env, SKEIN_CLUSTER_DIR: join(parent, 'cluster') };
  const { stdout, stderr } = await run('make', ['-s', '-C', REPO, 'cluster-status'], { env, timeout: 120_000 });
  assert.match(stdout, /^cluster: not running .*`make cluster-up` starts one$/m);
  assert.doesNotMatch(stderr, /Error|\*\*\*/);
  await assert.rejects(run(process.execPath, [join(REPO, 'e2e/cluster/cluster.ts'), 'status'], { env }), (err: { code?: number }) => err.code === 3);
});
